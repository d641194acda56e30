//! The local embedder: a BERT-style sentence encoder run in-process on the CPU with candle,
//! from a model folder holding `model.safetensors`, `tokenizer.json` and `config.json`
//! (`cargo xtask model` fetches all-MiniLM-L6-v2 into `models/`).
//!
//! Texts are tokenised (truncated to [`MAX_TOKENS`]), encoded, mean-pooled over their real
//! tokens and L2-normalised, the way sentence-transformers models expect. Encoding runs on
//! the blocking pool, one batch at a time.
//!
//! Behind the `local-embedder` feature: candle and tokenizers add minutes to a cold build.
//!
//! Known limits: CPU only, 32-bit floats; the weights are read into memory whole (about
//! 90 MB for all-MiniLM-L6-v2) rather than memory-mapped, which would need `unsafe`; text
//! past [`MAX_TOKENS`] tokens of a chunk does not reach its vector (it is still in the
//! lexical index), which is why the default chunk target stays under it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use candle_transformers::models::bert::{BertModel, Config, DTYPE};
use drive_core::{EmbedError, Embedder};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};

/// Tokens of a text the encoder sees; all-MiniLM-L6-v2 was trained on 256.
pub const MAX_TOKENS: usize = 256;

/// Texts encoded in one forward pass.
const TEXTS_PER_PASS: usize = 16;

/// A sentence encoder loaded from a model folder.
pub struct LocalEmbedder {
    identity: String,
    inner: Arc<Loaded>,
}

struct Loaded {
    model: BertModel,
    tokenizer: Tokenizer,
    device: Device,
}

/// Why a model folder could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("cannot load the embedding model from {path}: {reason}")]
pub struct LoadError {
    path: PathBuf,
    reason: String,
}

impl LocalEmbedder {
    /// Loads the model in `folder`; its identity is `local:` and the folder's name.
    ///
    /// # Errors
    /// [`LoadError`] when a file is missing or unreadable.
    pub fn load(folder: &Path) -> Result<Self, LoadError> {
        let fail = |reason: String| LoadError { path: folder.to_owned(), reason };
        let config_text = std::fs::read_to_string(folder.join("config.json"))
            .map_err(|err| fail(format!("config.json: {err}")))?;
        let config: Config = serde_json::from_str(&config_text)
            .map_err(|err| fail(format!("config.json: {err}")))?;
        let mut tokenizer = Tokenizer::from_file(folder.join("tokenizer.json"))
            .map_err(|err| fail(format!("tokenizer.json: {err}")))?;
        tokenizer.with_padding(Some(PaddingParams::default()));
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|err| fail(format!("tokenizer.json: {err}")))?;
        let weights = std::fs::read(folder.join("model.safetensors"))
            .map_err(|err| fail(format!("model.safetensors: {err}")))?;
        let device = Device::Cpu;
        let vars = VarBuilder::from_buffered_safetensors(weights, DTYPE, &device)
            .map_err(|err| fail(format!("model.safetensors: {err}")))?;
        let model = BertModel::load(vars, &config).map_err(|err| fail(format!("model: {err}")))?;
        let name = folder.file_name().map(|n| n.to_string_lossy().into_owned());
        let identity = format!("local:{}", name.unwrap_or_else(|| "model".to_owned()));
        Ok(Self { identity, inner: Arc::new(Loaded { model, tokenizer, device }) })
    }
}

impl std::fmt::Debug for LocalEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalEmbedder").field("model", &self.identity).finish_non_exhaustive()
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model(&self) -> &str {
        &self.identity
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(TEXTS_PER_PASS) {
            let (inner, batch) = (self.inner.clone(), batch.to_vec());
            let encoded = tokio::task::spawn_blocking(move || inner.encode(&batch))
                .await
                .map_err(|err| EmbedError::Unavailable(err.into()))?;
            vectors.extend(encoded.map_err(|err| EmbedError::Refused(err.to_string()))?);
        }
        Ok(vectors)
    }
}

impl Loaded {
    /// Returns the normalised mean-pooled vectors of `texts`.
    fn encode(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, drive_core::BoxError> {
        let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let encodings = self.tokenizer.encode_batch(inputs, true)?;
        let rows =
            |pick: fn(&tokenizers::Encoding) -> &[u32]| -> Result<Tensor, candle_core::Error> {
                let rows: Vec<Tensor> = encodings
                    .iter()
                    .map(|encoding| Tensor::new(pick(encoding), &self.device))
                    .collect::<Result<_, _>>()?;
                Tensor::stack(&rows, 0)
            };
        let ids = rows(tokenizers::Encoding::get_ids)?;
        let type_ids = rows(tokenizers::Encoding::get_type_ids)?;
        let mask = rows(tokenizers::Encoding::get_attention_mask)?;

        let hidden = self.model.forward(&ids, &type_ids, Some(&mask))?;
        // Mean over the real tokens only: padding must not pull short texts' vectors.
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let pooled = summed.broadcast_div(&counts)?;
        let norms = pooled.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
        Ok(pooled.broadcast_div(&norms)?.to_vec2::<f32>()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Returns the model folder `cargo xtask model` fills, or `None` with a notice.
    fn model_folder() -> Option<PathBuf> {
        let folder =
            std::env::var_os("DRIVE_EMBEDDING_MODEL_DIR").map(PathBuf::from).unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models/all-MiniLM-L6-v2")
            });
        if folder.join("model.safetensors").is_file() {
            return Some(folder);
        }
        notice(&format!("local embedder tests skipped: no model in {}", folder.display()));
        None
    }

    #[expect(clippy::print_stderr, reason = "a skipped test says so where the runner shows it")]
    fn notice(message: &str) {
        eprintln!("{message}");
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn similar_sentences_are_near_and_vectors_are_unit_length() {
        let Some(folder) = model_folder() else { return };
        let embedder = LocalEmbedder::load(&folder).unwrap();
        let texts: Vec<String> = [
            "The office opens at nine in the morning.",
            "Our opening hours start at 9 am.",
            "Refunds are paid back within five business days.",
        ]
        .map(str::to_owned)
        .to_vec();
        let vectors = embedder.embed(&texts).await.unwrap();
        assert_eq!(vectors.len(), 3);
        for vector in &vectors {
            assert_eq!(vector.len(), 384);
            assert!((cosine(vector, vector) - 1.0).abs() < 1e-4);
        }
        let near = cosine(&vectors[0], &vectors[1]);
        let far = cosine(&vectors[0], &vectors[2]);
        assert!(near > far + 0.2, "near {near}, far {far}");
        assert_eq!(
            embedder.model(),
            format!("local:{}", folder.file_name().unwrap().to_string_lossy())
        );
    }

    /// The whole handler with the real model: a question that shares no word with the
    /// answer's text still finds it, through the vector half of the search.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_paraphrase_finds_its_document_through_the_vectors() {
        use drive_core::testing::{MemoryKnowledgeIndexForTests, MemorySinkForTests};
        use drive_core::{BotName, Change, ChangeHandler, ChangeInput, Content, Kind, ObjectMeta};

        let Some(folder) = model_folder() else { return };
        let embedder = Arc::new(LocalEmbedder::load(&folder).unwrap());
        let handler = crate::KnowledgeHandler::new(
            Arc::new(MemoryKnowledgeIndexForTests::new()),
            Arc::new(MemorySinkForTests::new()),
        )
        .with_default_embedder(embedder);
        let bot = BotName::new("help").unwrap();
        let documents = [
            (
                "help.gbkb/faq/refunds.md",
                "# Refunds\n\nMoney is returned to the card within five business days.",
            ),
            ("help.gbkb/faq/hours.md", "# Hours\n\nThe shop opens at nine and closes at six."),
            (
                "help.gbkb/faq/parking.md",
                "# Parking\n\nCars can be left in the garage behind the building.",
            ),
        ];
        let inputs: Vec<ChangeInput> = documents
            .iter()
            .map(|(key, text)| ChangeInput {
                change: Change::Added { kind: Kind::Knowledge, new: ObjectMeta::new(*key, 1) },
                content: Some(Content::new(text.as_bytes().to_vec())),
            })
            .collect();
        handler.apply(&bot, &inputs).await;

        let found = handler.search(&bot, "when do I get my payment back", None, 3).await.unwrap();
        assert_eq!(found.mode, "hybrid");
        assert_eq!(found.results[0].key.as_str(), "help.gbkb/faq/refunds.md", "{found:?}");
        assert_eq!(found.results[0].lexical_rank, None, "no word in common");
        let found =
            handler.search(&bot, "where should I put my automobile", None, 3).await.unwrap();
        assert_eq!(found.results[0].key.as_str(), "help.gbkb/faq/parking.md", "{found:?}");
    }

    #[test]
    fn a_missing_folder_is_a_load_error() {
        let err = LocalEmbedder::load(Path::new("/nonexistent/model")).unwrap_err();
        assert!(err.to_string().contains("config.json"), "{err}");
    }
}
