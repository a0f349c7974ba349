/* Internals of the demo task generator shared by dataset/synth.c (problems and
 * JSONL files) and dataset/synth_tok.c (the tokenizer learnt from the solutions). */
#ifndef R1D_DS_SYNTH_IMPL_H
#define R1D_DS_SYNTH_IMPL_H

#include <stddef.h>

#include "core/err.h"

/* Special tokens of the deepseek-r1 chat templates, in id order after the BPE vocabulary. */
#define SYN_BOS "<｜begin▁of▁sentence｜>"
#define SYN_EOS "<｜end▁of▁sentence｜>"
#define SYN_USER "<｜User｜>"
#define SYN_ASSISTANT "<｜Assistant｜>"
#define SYN_THINK "<think>"
#define SYN_THINK_END "</think>"
/* The chat template written into tokenizer_config.json: the original R1 one, whose
 * generation prompt is `<｜Assistant｜>`; the worked solutions teach the model to open
 * `<think>` itself. (The -think variants end the generation prompt with `<think>\n`,
 * which r1d's trainer cannot split into prompt + response for a final turn.) */
#define SYN_CHAT_TEMPLATE "deepseek-r1"
/* New tokens learnt by BPE on the solutions: the vocabulary is 256 bytes + these + 6
 * specials = 512. Merges shorten the demo's rows ~2x (the directive and the answer
 * sentence become a few tokens) at the cost of a bigger embedding, which is cheap. */
#define SYN_MERGES 250

/* Writes dir/tokenizer.json and dir/tokenizer_config.json; the merges are learnt from
 * texts[0..n). */
r1d_status syn_tok_write(const char *dir, const char *const *texts, size_t n, err_t *e);

#endif
