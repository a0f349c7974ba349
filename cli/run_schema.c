/* The run manifest schema: every key of every stage, in one table that validates
 * manifests, fills in defaults, feeds the stage hashes and generates docs/manifest.md. */
#include <stdlib.h>
#include <string.h>

#include "cli/run.h"
#include "core/chat.h"
#include "core/file.h"
#include "core/hf_config.h"
#include "teacher/plan.h"

#define LIST_DEF "[]"

/* The trainer's hyper-parameters (`r1d train`), for the student and for a teacher trained
 * from scratch; P is the section, the rest are defaults that differ between the two. */
#define TRAIN_KEYS(P, SEQ, GA, EPOCHS, LR, WARM, SAVE)                                                                   \
    {P ".seq_len", MF_INT, SEQ, "[2, inf)", NULL, 0, "Row length in tokens; samples are packed into rows."},             \
    {P ".micro_batch", MF_INT, "1", "[1, inf)", NULL, 0, "Rows per rank per micro-step."},                             \
    {P ".grad_accum", MF_INT, GA, "[1, inf)", NULL, 0, "Micro-steps per optimizer step."},                             \
    {P ".epochs", MF_INT, EPOCHS, "[1, inf)", NULL, 0, "Passes over the data."},                                       \
    {P ".max_steps", MF_INT, "0", "[0, inf)", NULL, 0, "Stop after this many optimizer steps (0: the epochs decide)."}, \
    {P ".lr", MF_FLOAT, LR, "(0, 1]", NULL, 0, "Peak learning rate."},                                                 \
    {P ".min_lr_ratio", MF_FLOAT, "0.1", "[0, 1]", NULL, 0, "Cosine floor as a fraction of lr (open-r1's min_lr_rate)."}, \
    {P ".warmup_ratio", MF_FLOAT, WARM, "[0, 1]", NULL, 0, "Warmup steps = ceil(ratio x steps)."},                     \
    {P ".schedule", MF_ENUM, "cosine", NULL, "cosine|linear|constant", 0, "Learning-rate schedule after warmup."},      \
    {P ".weight_decay", MF_FLOAT, "0.0", "[0, 10]", NULL, 0, "AdamW decoupled weight decay (matrices only)."},          \
    {P ".beta1", MF_FLOAT, "0.9", "[0, 1)", NULL, 0, "AdamW beta1."},                                                  \
    {P ".beta2", MF_FLOAT, "0.95", "[0, 1)", NULL, 0, "AdamW beta2."},                                                 \
    {P ".eps", MF_FLOAT, "1e-8", "(0, 1]", NULL, 0, "AdamW epsilon."},                                                 \
    {P ".clip", MF_FLOAT, "1.0", "[0, inf)", NULL, 0, "Max global gradient norm (0: no clipping)."},                   \
    {P ".seed", MF_INT, "0", "[0, inf)", NULL, 0, "Shuffle seed."},                                                    \
    {P ".packing", MF_BOOL, "true", NULL, NULL, 0, "Best-fit-decreasing packing of samples into rows."},               \
    {P ".truncate", MF_BOOL, "false", NULL, NULL, 0, "Cut samples longer than seq_len instead of dropping them."},      \
    {P ".save_every", MF_INT, SAVE, "[1, inf)", NULL, 0,                                                               \
     "Checkpoint every N steps: an interrupted run resumes from the last one, losing at most N steps."},               \
    {P ".save_dtype", MF_ENUM, "bf16", NULL, "bf16|f32", 0, "Dtype of the released weights."}

/* A randomly initialised dense model (student/init.h). */
#define INIT_KEYS(P, HID, LAY, HEADS, KV, INTER)                                                                         \
    {P ".arch", MF_ENUM, "qwen2", NULL, "qwen2|llama", 0, "Architecture of the new model."},                           \
    {P ".hidden", MF_INT, HID, "[8, inf)", NULL, 0, "hidden_size."},                                                   \
    {P ".layers", MF_INT, LAY, "[1, inf)", NULL, 0, "num_hidden_layers."},                                             \
    {P ".heads", MF_INT, HEADS, "[1, inf)", NULL, 0, "num_attention_heads."},                                          \
    {P ".kv_heads", MF_INT, KV, "[1, inf)", NULL, 0, "num_key_value_heads (divides heads)."},                          \
    {P ".intermediate", MF_INT, INTER, "[1, inf)", NULL, 0, "intermediate_size of the SwiGLU MLP."},                   \
    {P ".max_pos", MF_INT, "2048", "[16, inf)", NULL, 0, "max_position_embeddings."},                                  \
    {P ".rope_theta", MF_FLOAT, "10000", "(0, inf)", NULL, 0, "RoPE base."},                                           \
    {P ".tie_embeddings", MF_BOOL, "true", NULL, NULL, 0, "The head shares the embedding matrix."},                    \
    {P ".init_seed", MF_INT, "0", "[0, inf)", NULL, 0, "Seed of the random weights."},                                 \
    {P ".tokenizer", MF_DIR, NULL, NULL, NULL, MF_OPTIONAL,                                                            \
     "Folder with tokenizer.json and tokenizer_config.json (chat template); default: the synth section's."}

static const mf_key_t keys[] = {
    {"run", MF_SECTION, NULL, NULL, NULL, MF_REQUIRED, "The run's identity and where its stages write."},
    {"run.name", MF_STR, NULL, NULL, NULL, MF_REQUIRED,
     "Run name (letters, digits, `.`, `_`, `-`); a run folder belongs to one name."},
    {"run.dir", MF_STR, NULL, NULL, NULL, MF_OPTIONAL,
     "Run folder, relative to the current directory (default `runs/NAME`); `--run-dir` overrides it."},

    {"synth", MF_SECTION, NULL, NULL, NULL, MF_OPTIONAL,
     "The built-in demo task (dataset/synth.h): multi-step integer arithmetic word problems with worked solutions "
     "in R1's format, a held-out eval set and a byte-level tokenizer. When present, prompts, eval sets, the teacher's "
     "training data and the tokenizers default to its outputs."},
    {"synth.seed", MF_INT, "0", "[0, inf)", NULL, 0, "Seed; the same seed gives byte-identical files."},
    {"synth.n_prompts", MF_INT, "2000", "[1, inf)", NULL, 0, "Problems in the teacher's prompt pool."},
    {"synth.n_eval", MF_INT, "100", "[1, inf)", NULL, 0, "Held-out eval problems."},
    {"synth.n_sft", MF_INT, "2000", "[1, inf)", NULL, 0, "Worked solutions the teacher is trained on."},
    {"synth.min_ops", MF_INT, "1", "[1, 64]", NULL, 0, "Fewest operations per problem."},
    {"synth.max_ops", MF_INT, "3", "[1, 64]", NULL, 0, "Most operations per problem (>= min_ops)."},
    {"synth.contaminate", MF_FLOAT, "0.02", "[0, 1]", NULL, 0,
     "Share of prompts copied from eval problems, so that decontamination has something to remove."},

    {"teacher", MF_SECTION, NULL, NULL, NULL, 0,
     "The teacher: a model folder (`model`) or one trained from scratch in the run (`train`), how it runs and samples."},
    {"teacher.model", MF_DIR, NULL, NULL, NULL, MF_OPTIONAL | MF_RUNTIME,
     "Hugging Face model folder (deepseek_v3, qwen2 or llama). Give `model` or `train`."},
    {"teacher.config", MF_PATH, NULL, NULL, NULL, MF_OPTIONAL,
     "A config.json used by `--check` to plan the layout when the model folder is not on this machine."},
    {"teacher.train", MF_SECTION, NULL, NULL, NULL, MF_OPTIONAL,
     "Train a small dense teacher from scratch on worked solutions (the demo); its release becomes the teacher."},
    INIT_KEYS("teacher.train", "256", "4", "4", "2", "768"),
    {"teacher.train.data", MF_PATH, NULL, NULL, NULL, MF_OPTIONAL,
     "Chat JSONL ({\"messages\": [...]}) to train on; default: the synth section's sft.jsonl."},
    TRAIN_KEYS("teacher.train", "512", "1", "1", "1e-3", "0.05", "25"),
    {"teacher.backend", MF_ENUM, "auto", NULL, "auto|cpu|cuda", 0,
     "Where the teacher runs (auto: cuda when a device is present and the engine is built)."},
    {"teacher.gpus", MF_INT, "1", "[1, 65536]", NULL, 0, "GPUs of one teacher replica (for the layout and the plan)."},
    {"teacher.tp", MF_INT, "0", "[0, 65536]", NULL, 0, "Tensor-parallel ranks (0: gpus); must divide gpus."},
    {"teacher.ep", MF_INT, "0", "[0, 65536]", NULL, 0,
     "Expert-parallel ranks for deepseek_v3 (0: gpus); must divide gpus. Dense teachers: 0 or 1."},
    {"teacher.gpu_mem_gib", MF_FLOAT, "141", "(0, inf)", NULL, 0, "Memory per GPU for the plan (H200: 141)."},
    {"teacher.reserve_gib", MF_FLOAT, "4", "[0, inf)", NULL, 0, "Per-GPU memory kept for activations in the plan."},
    {"teacher.kv_mem", MF_INT, "1024", "[1, inf)", NULL, 0, "KV cache budget of the CPU engine, MiB per rank."},
    {"teacher.batch", MF_INT, "32", "[1, 65536]", NULL, 0, "Sequences decoded together."},
    {"teacher.chat", MF_STR, NULL, NULL, NULL, MF_OPTIONAL, "Chat template name (default: the model folder's)."},
    {"teacher.spec", MF_ENUM, "none", NULL, "none|mtp", 0,
     "Speculative decoding with DeepSeek's MTP layer (deepseek_v3 teachers with an MTP layer). Sampling keeps its "
     "distribution (temperature, top-p and top-k included), not its exact tokens."},
    {"teacher.draft", MF_INT, "1", "[1, 16]", NULL, 0, "Tokens drafted per step with spec: mtp."},
    {"teacher.sampling", MF_SECTION, NULL, NULL, NULL, 0, "Sampling of the teacher's samples."},
    {"teacher.sampling.temperature", MF_FLOAT, "0.6", "[0, 10]", NULL, 0, "Temperature (0: greedy); R1: 0.6."},
    {"teacher.sampling.top_p", MF_FLOAT, "0.95", "(0, 1]", NULL, 0, "Nucleus sampling; R1: 0.95."},
    {"teacher.sampling.top_k", MF_INT, "0", "[0, inf)", NULL, 0, "Top-k (0: off)."},
    {"teacher.sampling.max_new", MF_INT, "32768", "[1, inf)", NULL, 0, "Most new tokens per sample."},
    {"teacher.sampling.seed", MF_INT, "0", "[0, inf)", NULL, 0,
     "Sample k of prompt p draws from (seed, hash(p, k)): the same whatever shard, batch or restart."},

    {"prompts", MF_SECTION, NULL, NULL, NULL, 0, "The prompt pools the teacher answers."},
    {"prompts.sources", MF_LIST, LIST_DEF, NULL, NULL, 0,
     "Prompt sets (JSONL: id, prompt or messages, answer, domain); default: the synth section's prompts."},
    {"prompts.sources[].path", MF_PATH, NULL, NULL, NULL, MF_REQUIRED | MF_RUNTIME, "The prompt set."},
    {"prompts.sources[].weight", MF_FLOAT, "1", "(0, 1]", NULL, 0,
     "Share of its prompts kept, chosen by a hash of the id (the same on every run)."},
    {"prompts.cap", MF_INT, "0", "[0, inf)", NULL, 0,
     "At most this many prompts in all, those whose ids hash lowest (0: no cap)."},
    {"samples_per_prompt", MF_INT, "4", "[1, 1048576]", NULL, 0, "Samples the teacher writes per prompt (k)."},

    {"verify", MF_SECTION, NULL, NULL, NULL, 0, "Answer verification and rejection sampling (dataset/verify.h)."},
    {"verify.mode", MF_ENUM, "math", NULL, "math|off", 0,
     "math: answers after </think> are checked against the gold answer and incorrect ones dropped; off: no check "
     "(samples are kept on the filters alone, e.g. a demo teacher too small to be right often)."},
    {"verify.max_correct", MF_INT, "0", "[0, inf)", NULL, 0,
     "Rejection sampling: correct samples kept per prompt, lowest sample index first (0: all)."},
    {"verify.keep_unverifiable", MF_BOOL, "true", NULL, NULL, 0, "Keep samples no verifier can judge (no gold answer)."},

    {"filters", MF_SECTION, NULL, NULL, NULL, 0, "Rule-based sample filters (dataset/filter.h); each can be turned off."},
    {"filters.format", MF_SECTION, NULL, NULL, NULL, 0, "One </think>, a non-empty answer after it."},
    {"filters.format.enabled", MF_BOOL, "true", NULL, NULL, 0, "Run the rule."},
    {"filters.format.min_answer_chars", MF_INT, "1", "[0, inf)", NULL, 0, "Non-space characters after </think>."},
    {"filters.truncated", MF_SECTION, NULL, NULL, NULL, 0, "Drop samples cut at max_new (finish_reason length)."},
    {"filters.truncated.enabled", MF_BOOL, "true", NULL, NULL, 0, "Run the rule."},
    {"filters.lang_mix", MF_SECTION, NULL, NULL, NULL, 0, "Drop reasoning that mixes scripts (R1 section 2.3.3)."},
    {"filters.lang_mix.enabled", MF_BOOL, "true", NULL, NULL, 0, "Run the rule."},
    {"filters.lang_mix.max_share", MF_FLOAT, "0.01", "[0, 1]", NULL, 0, "Largest share of letters in another script."},
    {"filters.lang_mix.min_letters", MF_INT, "50", "[0, inf)", NULL, 0, "Shorter reasoning is not judged."},
    {"filters.long_paragraph", MF_SECTION, NULL, NULL, NULL, 0, "Drop reasoning with very long paragraphs."},
    {"filters.long_paragraph.enabled", MF_BOOL, "true", NULL, NULL, 0, "Run the rule."},
    {"filters.long_paragraph.max_chars", MF_INT, "4000", "[1, inf)", NULL, 0, "Characters without a blank line."},
    {"filters.code_block", MF_SECTION, NULL, NULL, NULL, 0, "Drop reasoning with fenced code blocks."},
    {"filters.code_block.enabled", MF_BOOL, "true", NULL, NULL, 0, "Run the rule."},
    {"filters.code_block.max_blocks", MF_INT, "0", "[0, inf)", NULL, 0, "``` blocks allowed."},
    {"filters.repetition", MF_SECTION, NULL, NULL, NULL, 0, "Drop responses that repeat themselves."},
    {"filters.repetition.enabled", MF_BOOL, "true", NULL, NULL, 0, "Run the rule."},
    {"filters.repetition.n", MF_INT, "10", "[1, 1000]", NULL, 0, "Words per n-gram."},
    {"filters.repetition.max_share", MF_FLOAT, "0.5", "[0, 1]", NULL, 0, "Largest share of repeated n-grams."},
    {"filters.length", MF_SECTION, NULL, NULL, NULL, 0, "Bounds on generated tokens."},
    {"filters.length.enabled", MF_BOOL, "true", NULL, NULL, 0, "Run the rule."},
    {"filters.length.min_tokens", MF_INT, "1", "[0, inf)", NULL, 0, "Fewest generated tokens."},
    {"filters.length.max_tokens", MF_INT, "32768", "[0, inf)", NULL, 0, "Most generated tokens."},
    {"filters.min_kept", MF_INT, "1", "[0, inf)", NULL, 0,
     "The run stops with an error when fewer samples survive verification and filters."},

    {"non_reasoning", MF_SECTION, NULL, NULL, NULL, 0,
     "Non-reasoning chat SFT data added to the samples (R1: ~200k of ~800k), deduplicated and decontaminated with them."},
    {"non_reasoning.sources", MF_PATH_LIST, LIST_DEF, NULL, NULL, MF_RUNTIME,
     "Chat JSONL files ({\"messages\": [...]} ending in an assistant turn)."},
    {"non_reasoning.share", MF_FLOAT, "0", "[0, 1)", NULL, 0, "Target share of chat samples in the dataset."},

    {"dedup", MF_SECTION, NULL, NULL, NULL, 0, "Exact (XXH3-128) and near (MinHash + LSH) deduplication."},
    {"dedup.exact", MF_BOOL, "true", NULL, NULL, 0, "Remove exact duplicates of normalised prompt + response."},
    {"dedup.near", MF_BOOL, "true", NULL, NULL, 0, "Remove near duplicates."},
    {"dedup.threshold", MF_FLOAT, "0.8", "(0, 1]", NULL, 0, "Jaccard similarity of near duplicates."},
    {"dedup.num_perm", MF_INT, "128", "[8, 4096]", NULL, 0, "MinHash permutations."},
    {"dedup.shingle", MF_INT, "5", "[1, 64]", NULL, 0, "Words per shingle."},
    {"dedup.scope", MF_ENUM, "global", NULL, "global|prompt", 0, "Compare all samples, or only those of one prompt."},
    {"dedup.seed", MF_INT, "0", "[0, inf)", NULL, 0, "MinHash seed."},

    {"decontam", MF_SECTION, NULL, NULL, NULL, 0, "Removal of samples sharing word n-grams with eval sets."},
    {"decontam.enabled", MF_BOOL, "true", NULL, NULL, 0, "Run the stage."},
    {"decontam.sets", MF_PATH_LIST, LIST_DEF, NULL, NULL, MF_RUNTIME, "Eval sets to check against (default: eval.sets)."},
    {"decontam.ngram", MF_INT, "8", "[1, 64]", NULL, 0, "Words per n-gram (open-r1, s1: 8)."},
    {"decontam.responses", MF_BOOL, "false", NULL, NULL, 0, "Check responses too, not only prompts."},

    {"export", MF_SECTION, NULL, NULL, NULL, 0, "The dataset tarball (dataset/export.h), tokenised with the student's tokenizer."},
    {"export.format", MF_ENUM, "tar.zst", NULL, "tar|tar.zst", 0, "Archive format."},
    {"export.name", MF_STR, NULL, NULL, NULL, MF_OPTIONAL, "Dataset name for the card (default: the run name)."},
    {"export.shard_samples", MF_INT, "10000", "[1, inf)", NULL, 0, "Samples per shard."},
    {"export.zstd_level", MF_INT, "3", "[1, 19]", NULL, 0, "zstd level of the sample shards."},

    {"student", MF_SECTION, NULL, NULL, NULL, 0,
     "The student: a base model folder (`model`) or a new random one (`init`), and every trainer hyper-parameter."},
    {"student.model", MF_DIR, NULL, NULL, NULL, MF_OPTIONAL | MF_RUNTIME,
     "Hugging Face base model folder (qwen2 or llama). Give `model` or `init`."},
    {"student.init", MF_SECTION, NULL, NULL, NULL, MF_OPTIONAL, "Initialise a new student at random (student/init.h)."},
    INIT_KEYS("student.init", "128", "2", "4", "2", "384"),
    {"student.chat_template", MF_STR, NULL, NULL, NULL, MF_OPTIONAL,
     "Chat template name for training, export and the release (default: the base folder's)."},
    TRAIN_KEYS("student", "4096", "8", "3", "1e-5", "0.03", "100"),

    {"release", MF_SECTION, NULL, NULL, NULL, 0, "The released student (a Hugging Face folder)."},
    {"release.name", MF_STR, NULL, NULL, NULL, MF_OPTIONAL, "Folder name under the release stage (default: the run name)."},

    {"eval", MF_SECTION, NULL, NULL, NULL, 0, "Evaluation on held-out sets and the side-by-side report."},
    {"eval.sets", MF_PATH_LIST, LIST_DEF, NULL, NULL, MF_RUNTIME,
     "Eval sets (AIME, AMC, MATH-500, GSM8K, generic; docs/formats.md); default: the synth section's eval.jsonl."},
    {"eval.k", MF_INT, "4", "[1, 1000000]", NULL, 0, "Samples per problem (pass@1 over k, cons@k)."},
    {"eval.temperature", MF_FLOAT, "0.6", "[0, 10]", NULL, 0, "Sampling temperature (R1: 0.6)."},
    {"eval.top_p", MF_FLOAT, "0.95", "(0, 1]", NULL, 0, "Nucleus sampling (R1: 0.95)."},
    {"eval.max_new", MF_INT, "32768", "[1, inf)", NULL, 0, "Most new tokens per response."},
    {"eval.seed", MF_INT, "0", "[0, inf)", NULL, 0, "Sampling seed."},
    {"eval.prompt_template", MF_STR, NULL, NULL, NULL, MF_OPTIONAL,
     "Prompt with {problem} (default: R1's \"Please reason step by step, and put your final answer within \\boxed{}.\")."},
    {"eval.extract", MF_STR_LIST, LIST_DEF, NULL, "boxed|final_answer|choice|gsm8k|last_number", 0,
     "Answer extractors (default: the set format's); `[boxed]` keeps an untrained model's stray digits from counting."},
    {"eval.teacher", MF_BOOL, "true", NULL, NULL, 0, "Evaluate the teacher."},
    {"eval.student", MF_BOOL, "true", NULL, NULL, 0, "Evaluate the released student."},
    {"eval.baseline", MF_BOOL, "true", NULL, NULL, 0, "Evaluate the student before training (its base or initial weights)."},
};

const mf_schema_t run_schema = {keys, sizeof keys / sizeof keys[0]};

/* Architecture from a model folder's (or a file's) config.json; 0 when unreadable. */
static int config_arch(const char *path, int *n_mtp) {
    cfg_model_t c;
    err_t e;
    if (!path || !file_exists(path) || cfg_model_load(&c, path, &e) != R1D_OK) return 0;
    int a = (int)c.arch;
    if (n_mtp) *n_mtp = c.n_mtp_layers;
    cfg_model_free(&c);
    return a;
}

static void check_teacher(mf_t *m) {
    int has_model = mf_has(m, "teacher.model"), has_train = mf_has(m, "teacher.train");
    if (!has_model && !has_train)
        mf_add_error(m, "teacher", "expected teacher.model (a model folder) or teacher.train (a teacher trained here), got neither");
    if (has_model && has_train) mf_add_error(m, "teacher.train", "give teacher.model or teacher.train, not both");
    if (has_train && !mf_has(m, "synth") && !mf_has(m, "teacher.train.data"))
        mf_add_error(m, "teacher.train.data", "expected a chat JSONL to train the teacher on (there is no synth section)");
    if (has_train && !mf_has(m, "synth") && !mf_has(m, "teacher.train.tokenizer"))
        mf_add_error(m, "teacher.train.tokenizer", "expected a tokenizer folder (there is no synth section)");
    if (has_train && mf_i64(m, "teacher.train.heads", 1) % mf_i64(m, "teacher.train.kv_heads", 1))
        mf_add_error(m, "teacher.train.kv_heads", "expected a divisor of teacher.train.heads (%lld), got %lld",
                     (long long)mf_i64(m, "teacher.train.heads", 1), (long long)mf_i64(m, "teacher.train.kv_heads", 1));
    int64_t gpus = mf_i64(m, "teacher.gpus", 1), tp = mf_i64(m, "teacher.tp", 0), ep = mf_i64(m, "teacher.ep", 0);
    if (tp > 0 && gpus % tp)
        mf_add_error(m, "teacher.tp", "expected a divisor of teacher.gpus (%lld), got %lld", (long long)gpus, (long long)tp);
    if (ep > 0 && gpus % ep)
        mf_add_error(m, "teacher.ep", "expected a divisor of teacher.gpus (%lld), got %lld", (long long)gpus, (long long)ep);
    /* the architecture, when a config is at hand */
    char cfg[4200] = "";
    if (mf_has(m, "teacher.config")) snprintf(cfg, sizeof cfg, "%s", mf_str(m, "teacher.config", ""));
    else if (has_model) snprintf(cfg, sizeof cfg, "%s/config.json", mf_str(m, "teacher.model", ""));
    int n_mtp = 0, arch = has_train ? CFG_ARCH_QWEN2 : config_arch(cfg, &n_mtp);
    int dense = arch == CFG_ARCH_QWEN2 || arch == CFG_ARCH_LLAMA;
    if (!strcmp(mf_str(m, "teacher.spec", "none"), "mtp")) {
        if (has_train)
            mf_add_error(m, "teacher.spec", "expected none: MTP speculation needs a deepseek_v3 teacher, and teacher.train "
                                            "makes a dense %s model", mf_str(m, "teacher.train.arch", "qwen2"));
        else if (dense)
            mf_add_error(m, "teacher.spec", "expected none: MTP speculation needs a deepseek_v3 teacher, %s is dense", cfg);
        else if (arch == CFG_ARCH_DEEPSEEK_V3 && n_mtp < 1)
            mf_add_error(m, "teacher.spec", "expected none: %s has no MTP layer (num_nextn_predict_layers 0)", cfg);
    }
    /* the layout must be buildable on this model (heads, experts) */
    cfg_model_t cm;
    err_t ce;
    if (!has_train && arch && cfg_model_load(&cm, cfg, &ce) == R1D_OK) {
        tch_plan_in_t in = {(int)gpus, (int)tp, (int)(dense && ep <= 0 ? 1 : ep), 1e9, 0, 1, 0};
        tch_plan_t p;
        if (tch_plan_compute(&cm, &in, &p, &ce) != R1D_OK)
            mf_add_error(m, strstr(ce.msg, "--ep") ? "teacher.ep" : "teacher.tp", "%s (%s)", ce.msg, cfg);
        cfg_model_free(&cm);
    }
    if ((dense || has_train) && ep > 1)
        mf_add_error(m, "teacher.ep", "expected 0 or 1: a dense teacher has no experts to split, got %lld", (long long)ep);
}

static void check_student(mf_t *m) {
    int has_model = mf_has(m, "student.model"), has_init = mf_has(m, "student.init");
    if (!has_model && !has_init)
        mf_add_error(m, "student", "expected student.model (a base model folder) or student.init (a new model), got neither");
    if (has_model && has_init) mf_add_error(m, "student.init", "give student.model or student.init, not both");
    if (has_init && !mf_has(m, "synth") && !mf_has(m, "student.init.tokenizer"))
        mf_add_error(m, "student.init.tokenizer", "expected a tokenizer folder (there is no synth section)");
    if (has_init && mf_i64(m, "student.init.heads", 1) % mf_i64(m, "student.init.kv_heads", 1))
        mf_add_error(m, "student.init.kv_heads", "expected a divisor of student.init.heads (%lld), got %lld",
                     (long long)mf_i64(m, "student.init.heads", 1), (long long)mf_i64(m, "student.init.kv_heads", 1));
    if (has_model) {
        char cfg[4200];
        snprintf(cfg, sizeof cfg, "%s/config.json", mf_str(m, "student.model", ""));
        int arch = config_arch(cfg, NULL);
        if (arch == CFG_ARCH_DEEPSEEK_V3)
            mf_add_error(m, "student.model", "expected a qwen2 or llama student, got deepseek_v3 (%s)", cfg);
    }
}

static void check_data(mf_t *m) {
    int synth = mf_has(m, "synth");
    if (synth && mf_i64(m, "synth.min_ops", 1) > mf_i64(m, "synth.max_ops", 3))
        mf_add_error(m, "synth.max_ops", "expected at least synth.min_ops (%lld), got %lld",
                     (long long)mf_i64(m, "synth.min_ops", 1), (long long)mf_i64(m, "synth.max_ops", 3));
    if (!synth && !mf_len(m, "prompts.sources"))
        mf_add_error(m, "prompts.sources", "expected at least one prompt set (or a synth section), got none");
    if (!strcmp(mf_str(m, "verify.mode", "math"), "off") && mf_i64(m, "verify.max_correct", 0) > 0)
        mf_add_error(m, "verify.max_correct", "expected 0 with verify.mode off: rejection sampling needs verification");
    if (mf_i64(m, "filters.length.min_tokens", 1) > mf_i64(m, "filters.length.max_tokens", 32768))
        mf_add_error(m, "filters.length.min_tokens", "expected at most filters.length.max_tokens (%lld), got %lld",
                     (long long)mf_i64(m, "filters.length.max_tokens", 0), (long long)mf_i64(m, "filters.length.min_tokens", 0));
    if (mf_f64(m, "non_reasoning.share", 0) > 0 && !mf_len(m, "non_reasoning.sources"))
        mf_add_error(m, "non_reasoning.share", "expected 0 without non_reasoning.sources, got %g",
                     mf_f64(m, "non_reasoning.share", 0));
    int any_eval = mf_bool(m, "eval.teacher", 1) || mf_bool(m, "eval.student", 1) || mf_bool(m, "eval.baseline", 1);
    if (!synth && !mf_len(m, "eval.sets") && any_eval)
        mf_add_error(m, "eval.sets", "expected at least one eval set (or a synth section), got none");
    if (!synth && mf_bool(m, "decontam.enabled", 1) && !mf_len(m, "decontam.sets") && !mf_len(m, "eval.sets"))
        mf_add_error(m, "decontam.sets", "expected eval sets to decontaminate against (decontam.sets or eval.sets), got none");
    const char *name = mf_str(m, "run.name", "");
    if (*name && (strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(name) ||
                  name[0] == '.'))
        mf_add_error(m, "run.name", "expected letters, digits, '.', '_' and '-' (not first '.'), got '%s'", name);
}

static void check_names(mf_t *m) {
    const char *keys[] = {"teacher.chat", "student.chat_template"};
    for (int i = 0; i < 2; i++) {
        const chat_template_t *t;
        err_t e;
        if (mf_has(m, keys[i]) && chat_template_by_name(mf_str(m, keys[i], ""), &t, &e) != R1D_OK)
            mf_add_error(m, keys[i], "%s", e.msg);
    }
    const char *tpl = mf_str(m, "eval.prompt_template", NULL);
    if (tpl && !strstr(tpl, "{problem}"))
        mf_add_error(m, "eval.prompt_template", "expected a template containing {problem}, got \"%.60s\"", tpl);
}

void run_schema_check(mf_t *m, int files) {
    (void)files;
    check_teacher(m);
    check_student(m);
    check_data(m);
    check_names(m);
}

r1d_status run_manifest_load(mf_t **out, const char *path, int files, err_t *e) {
    mf_t *m;
    TRY(mf_load(&m, path, e));
    r1d_status st = mf_validate(m, &run_schema, files ? MF_V_FILES : 0, e);
    if (st == R1D_OK) {
        run_schema_check(m, files);
        if (mf_n_errors(m))
            st = mf_n_errors(m) == 1 ? ERR(e, R1D_EINVAL, "%s", mf_error(m, 0))
                                     : ERR(e, R1D_EINVAL, "%s (and %zu more)", mf_error(m, 0), mf_n_errors(m) - 1);
    }
    *out = m;
    return st;
}

void run_schema_doc(FILE *fp) {
    fputs("# Run manifests (`r1d run`)\n\n"
          "<!-- Generated by `r1d run --schema-md` from cli/run_schema.c; tests/unit/test_manifest.c checks that\n"
          "     this file is up to date. Edit the schema, then regenerate. -->\n\n"
          "One YAML file describes a whole run: `r1d run MANIFEST [--from STAGE] [--only STAGE] [--check]\n"
          "[--run-dir DIR]`, and `r1d status RUN_DIR` reports on it. The stages, in order, each writing only in\n"
          "its folder `RUN_DIR/NN-stage/`:\n\n"
          "| stage | does | runs when |\n|---|---|---|\n"
          "| `01-synth` | writes the demo task (prompts, eval set, worked solutions, tokenizer) | `synth` is present |\n"
          "| `02-teacher_train` | initialises and trains a small teacher on the worked solutions | `teacher.train` is present |\n"
          "| `03-generate` | the teacher writes `samples_per_prompt` samples per prompt (all ranks under mpirun) | always |\n"
          "| `04-filter` | verification, rejection sampling, filters, non-reasoning data | always |\n"
          "| `05-dedup` | exact and near deduplication | always |\n"
          "| `06-decontam` | n-gram decontamination against the eval sets | `decontam.enabled` |\n"
          "| `07-export` | the dataset tarball, tokenised for the student, then `dataset verify` | always |\n"
          "| `08-train` | student SFT (data parallel + ZeRO-1 under mpirun) | always |\n"
          "| `09-release` | the student's Hugging Face folder, checked by loading it | always |\n"
          "| `10-eval` | teacher, student and baseline on the eval sets | some model is evaluated |\n"
          "| `11-report` | `report.{json,md,html}`: the models side by side | as eval |\n\n"
          "Each stage ends with a `DONE` file holding the XXH3 of its inputs (the canonical form of the manifest keys\n"
          "it reads, defaults filled in, plus the output hashes in the `DONE` files of the stages it consumes) and the\n"
          "XXH3 of each of its outputs. Rerunning skips a stage whose inputs are unchanged, redoes one whose inputs\n"
          "changed (and, when its outputs change, everything downstream), and resumes an interrupted one: generation\n"
          "from its JSONL, training from its latest checkpoint (`save_every`). `--from STAGE` redoes STAGE and goes on;\n"
          "`--only STAGE` redoes STAGE alone; the stages before it must be done. The manifest is copied to\n"
          "`RUN_DIR/manifest.yaml`; a run folder made by a manifest with another `run.name` is refused.\n"
          "Timestamps written into outputs come from `SOURCE_DATE_EPOCH` when set, else from the run folder's creation,\n"
          "so an interrupted and resumed run writes the same bytes as an uninterrupted one.\n\n"
          "Under `mpirun` (or `srun`), generation shards the prompts over every rank by a hash of their ids (the\n"
          "merged samples are the same bytes whatever the rank count) and training runs data parallel with ZeRO-1;\n"
          "the other stages run on rank 0, which alone writes `DONE` files. `teacher.backend` picks the generation\n"
          "engine's backend (teacher/backend.h; with cuda each rank takes the GPU of its local rank); `gpus`, `tp`\n"
          "and `ep` describe the GPU layout that `--check` plans (weights and KV cache per GPU, teacher/plan.h).\n\n"
          "Paths are relative to the manifest's folder (`run.dir` to the current directory). Model folders, prompt\n"
          "pools, chat data and eval sets must exist when the run starts; `r1d run --check` validates everything else,\n"
          "lists the missing ones, and plans the teacher's layout from `teacher.config` (a config.json, e.g. the ones\n"
          "in `manifests/configs/`) when the model folder is not on the machine. Input files enter the hashes by their\n"
          "path, not their content: after changing a file in place, redo its stage with `--from`. Errors are one\n"
          "line each: `FILE:LINE:COL: key 'a.b.c': expected ..., got ...`.\n",
          fp);
    mf_schema_md(&run_schema, fp);
}
