//! Chunking: groups a document's blocks into pieces of about [`ChunkConfig::target_chars`]
//! characters for indexing, structure first.
//!
//! Rules, in order:
//! - a heading always starts a new chunk and is its first line; the headings above a chunk
//!   travel with it as its `heading` path (`Guide > Setup`);
//! - blocks (paragraphs, rows) are packed whole while they fit;
//! - a block longer than the target is split at sentence ends, a sentence longer than the
//!   target between words, a word longer than the target between characters;
//! - after a block whose text hashes to an anchor value (about one block in three, and
//!   only once the chunk holds a quarter of the target), the chunk ends. These
//!   content-defined boundaries make chunking re-synchronise after an edit: a changed
//!   paragraph changes its own chunk and at most the chunks up to the next anchor, not
//!   every chunk after it;
//! - a chunk that ended for size starts the next with its last pieces up to
//!   [`ChunkConfig::overlap_chars`], so a sentence cut at a boundary is found from both sides.
//!
//! Nothing is dropped: apart from whitespace, which is normalised between pieces, every
//! character of every block is in some chunk, in document order (a property test checks
//! it).

use super::extract::{Block, BlockKind};

/// Sizes of chunks, in characters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkConfig {
    /// A chunk holds at most this many characters (default 1000, about 250 tokens of
    /// English, under the 256-token window of small sentence encoders).
    pub target_chars: usize,
    /// Characters a size-cut chunk repeats from the one before it (default 100).
    pub overlap_chars: usize,
}

impl Default for ChunkConfig {
    fn default() -> Self {
        Self { target_chars: 1000, overlap_chars: 100 }
    }
}

impl ChunkConfig {
    /// Returns this configuration made usable: a target of at least 16 characters and an
    /// overlap under half the target.
    pub fn sanitised(self) -> Self {
        let target_chars = self.target_chars.max(16);
        Self { target_chars, overlap_chars: self.overlap_chars.min(target_chars / 2) }
    }
}

/// One chunk of a document's text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TextChunk {
    /// The headings above the chunk, joined by ` > `.
    pub(crate) heading: String,
    pub(crate) text: String,
}

/// A piece of a block, at most the target long, with what separates it from the piece
/// before it.
#[derive(Clone, Debug)]
struct Piece {
    separator: &'static str,
    text: String,
    chars: usize,
}

/// Returns the chunks of `blocks`.
pub(crate) fn chunk_blocks(blocks: &[Block], config: ChunkConfig) -> Vec<TextChunk> {
    let config = config.sanitised();
    let mut packer =
        Packer { config, chunks: Vec::new(), current: Vec::new(), heading: String::new() };
    let mut headings: Vec<(u8, String)> = Vec::new();
    for block in blocks {
        if let BlockKind::Heading(level) = block.kind {
            packer.flush(false);
            headings.retain(|(above, _)| *above < level);
            headings.push((level, block.text.clone()));
            packer.heading = join_headings(&headings);
        }
        let first_separator = match block.kind {
            BlockKind::Row => "\n",
            BlockKind::Heading(_) | BlockKind::Paragraph => "\n\n",
        };
        for piece in split_block(&block.text, config.target_chars, first_separator) {
            packer.add(piece);
        }
        let filled = packer.current_chars() * 4 >= config.target_chars;
        if filled && is_anchor(&block.text) {
            packer.flush(false);
        }
    }
    packer.flush(false);
    packer.chunks
}

struct Packer {
    config: ChunkConfig,
    chunks: Vec<TextChunk>,
    current: Vec<Piece>,
    heading: String,
}

impl Packer {
    fn current_chars(&self) -> usize {
        self.current.iter().map(|piece| piece.chars + piece.separator.len()).sum()
    }

    fn add(&mut self, piece: Piece) {
        let fits =
            self.current_chars() + piece.separator.len() + piece.chars <= self.config.target_chars;
        if !fits && !self.current.is_empty() {
            self.flush(true);
            self.drop_overlap_that_cannot_fit(&piece);
        }
        self.current.push(piece);
    }

    /// Ends the current chunk; with `overlap`, the next starts with its last pieces.
    fn flush(&mut self, overlap: bool) {
        if self.current.is_empty() {
            return;
        }
        let mut text = String::new();
        for (idx, piece) in self.current.iter().enumerate() {
            if idx > 0 {
                text.push_str(piece.separator);
            }
            text.push_str(&piece.text);
        }
        self.chunks.push(TextChunk { heading: self.heading.clone(), text });
        let pieces = std::mem::take(&mut self.current);
        if overlap {
            self.current = tail_within(pieces, self.config.overlap_chars);
        }
    }

    fn drop_overlap_that_cannot_fit(&mut self, next: &Piece) {
        let total = self.current_chars() + next.separator.len() + next.chars;
        if total > self.config.target_chars {
            self.current.clear();
        }
    }
}

/// Returns the last pieces whose length adds up to at most `budget`.
fn tail_within(pieces: Vec<Piece>, budget: usize) -> Vec<Piece> {
    let mut used = 0;
    let mut keep = pieces.len();
    for piece in pieces.iter().rev() {
        if used + piece.chars + piece.separator.len() > budget {
            break;
        }
        used += piece.chars + piece.separator.len();
        keep -= 1;
    }
    pieces.into_iter().skip(keep).collect()
}

fn join_headings(headings: &[(u8, String)]) -> String {
    headings.iter().map(|(_, text)| text.as_str()).collect::<Vec<_>>().join(" > ")
}

/// Returns true for about one block text in three, the same on every run and machine.
fn is_anchor(text: &str) -> bool {
    // FNV-1a: stable across Rust versions, unlike the standard library's hasher.
    let mut hash: u32 = 0x811c_9dc5;
    for byte in text.bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash.is_multiple_of(3)
}

/// Splits a block into pieces of at most `target` characters: whole, else sentences, else
/// words, else characters.
fn split_block(text: &str, target: usize, first_separator: &'static str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut separator = first_separator;
    if text.chars().count() <= target {
        pieces.push(piece(separator, text));
        return pieces;
    }
    for sentence in sentences(text) {
        for part in split_long(sentence, target) {
            let (part_separator, part_text) = part;
            let sep = if pieces.is_empty() {
                separator
            } else if part_separator {
                " "
            } else {
                ""
            };
            pieces.push(piece(sep, part_text));
            separator = " ";
        }
    }
    pieces
}

fn piece(separator: &'static str, text: &str) -> Piece {
    Piece { separator, text: text.to_owned(), chars: text.chars().count() }
}

/// Returns the sentences of `text`: cut after `.`, `!`, `?` or a line break followed by
/// whitespace, each trimmed, none empty.
fn sentences(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((idx, c)) = chars.next() {
        let ends = matches!(c, '.' | '!' | '?' | '。' | '\n')
            && chars.peek().is_some_and(|(_, next)| next.is_whitespace());
        if ends {
            let end = idx + c.len_utf8();
            out.push(text[start..end].trim());
            start = end;
        }
    }
    out.push(text[start..].trim());
    out.retain(|sentence| !sentence.is_empty());
    out
}

/// Splits a sentence longer than `target` between words, and words longer than `target`
/// between characters; each part says whether whitespace stood before it.
fn split_long(sentence: &str, target: usize) -> Vec<(bool, &str)> {
    if sentence.chars().count() <= target {
        return vec![(true, sentence)];
    }
    let mut parts: Vec<(bool, &str)> = Vec::new();
    let mut run: Option<(usize, usize)> = None;
    for word in sentence.split_whitespace() {
        let offset = word.as_ptr() as usize - sentence.as_ptr() as usize;
        let end = offset + word.len();
        if word.chars().count() > target {
            if let Some((start, run_end)) = run.take() {
                parts.push((true, &sentence[start..run_end]));
            }
            for (idx, cut) in cut_chars(word, target).into_iter().enumerate() {
                parts.push((idx == 0, cut));
            }
            continue;
        }
        // The run keeps the whitespace between its words as written, so it is measured
        // as written.
        run = match run {
            Some((start, _)) if sentence[start..end].chars().count() <= target => {
                Some((start, end))
            }
            Some((start, run_end)) => {
                parts.push((true, &sentence[start..run_end]));
                Some((offset, end))
            }
            None => Some((offset, end)),
        };
    }
    if let Some((start, run_end)) = run {
        parts.push((true, &sentence[start..run_end]));
    }
    parts
}

/// Cuts `word` into runs of `target` characters.
fn cut_chars(word: &str, target: usize) -> Vec<&str> {
    let mut cuts = Vec::new();
    let mut start = 0;
    for (n, (idx, _)) in word.char_indices().enumerate() {
        if n > 0 && n % target == 0 {
            cuts.push(&word[start..idx]);
            start = idx;
        }
    }
    cuts.push(&word[start..]);
    cuts
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};
    use proptest::prelude::*;

    use super::*;

    fn block(kind: BlockKind, text: &str) -> Block {
        Block { kind, text: text.to_owned() }
    }

    #[track_caller]
    fn check(blocks: &[Block], config: ChunkConfig, expected: Expect) {
        let chunks = chunk_blocks(blocks, config);
        let dump: Vec<String> =
            chunks.iter().map(|c| format!("[{}] {:?}", c.heading, c.text)).collect();
        expected.assert_eq(&dump.join("\n"));
    }

    #[test]
    fn headings_start_chunks_and_paragraphs_pack() {
        let blocks = [
            block(BlockKind::Heading(1), "Guide"),
            block(BlockKind::Paragraph, "Intro text."),
            block(BlockKind::Heading(2), "Setup"),
            block(BlockKind::Paragraph, "Install it."),
            block(BlockKind::Paragraph, "Run it."),
            block(BlockKind::Heading(2), "Use"),
            block(BlockKind::Row, "a | b"),
            block(BlockKind::Row, "c | d"),
        ];
        let config = ChunkConfig { target_chars: 200, overlap_chars: 0 };
        check(
            &blocks,
            config,
            expect![[r#"
                [Guide] "Guide\n\nIntro text."
                [Guide > Setup] "Setup\n\nInstall it.\n\nRun it."
                [Guide > Use] "Use\na | b\nc | d""#]],
        );
    }

    #[test]
    fn long_paragraphs_split_at_sentences_with_overlap() {
        let text = "One two three. Four five six. Seven eight nine. Ten eleven twelve.";
        let config = ChunkConfig { target_chars: 40, overlap_chars: 16 };
        check(
            &[block(BlockKind::Paragraph, text)],
            config,
            expect![[r#"
                [] "One two three. Four five six."
                [] "Four five six. Seven eight nine."
                [] "Ten eleven twelve.""#]],
        );
    }

    #[test]
    fn giant_words_split_between_characters() {
        let config = ChunkConfig { target_chars: 16, overlap_chars: 0 };
        let word = "x".repeat(40);
        let chunks = chunk_blocks(&[block(BlockKind::Paragraph, &word)], config);
        let lengths: Vec<usize> = chunks.iter().map(|c| c.text.len()).collect();
        assert_eq!(lengths, [16, 16, 8]);
    }

    #[test]
    fn an_edit_changes_only_nearby_chunks() {
        let paragraphs: Vec<String> = (0..60)
            .map(|n| format!("Paragraph {n} says something about topic {}.", n * 7))
            .collect();
        let config = ChunkConfig { target_chars: 200, overlap_chars: 0 };
        let blocks = |texts: &[String]| -> Vec<Block> {
            texts.iter().map(|t| block(BlockKind::Paragraph, t)).collect()
        };
        let before = chunk_blocks(&blocks(&paragraphs), config);
        let mut edited = paragraphs.clone();
        edited[5] = "Paragraph 5 now says something rather longer than it did before.".into();
        let after = chunk_blocks(&blocks(&edited), config);
        let changed = after.iter().filter(|chunk| !before.contains(chunk)).count();
        assert!(changed <= 3, "{changed} of {} chunks changed", after.len());
    }

    fn non_space(text: &str) -> String {
        text.chars().filter(|c| !c.is_whitespace()).collect()
    }

    fn is_subsequence(needle: &str, haystack: &str) -> bool {
        let mut hay = haystack.chars();
        needle.chars().all(|c| hay.any(|h| h == c))
    }

    fn arbitrary_blocks() -> impl Strategy<Value = Vec<Block>> {
        let kind = prop_oneof![
            (1u8..4).prop_map(BlockKind::Heading),
            Just(BlockKind::Paragraph),
            Just(BlockKind::Row),
        ];
        let text = "[a-zé. !?\n]{0,20}[a-z][a-zé .!?\n]{0,200}";
        proptest::collection::vec((kind, text), 0..20).prop_map(|blocks| {
            blocks
                .into_iter()
                .map(|(kind, text)| Block { kind, text: text.trim().to_owned() })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn without_overlap_chunks_hold_exactly_the_document(
            blocks in arbitrary_blocks(), target in 16usize..300,
        ) {
            let config = ChunkConfig { target_chars: target, overlap_chars: 0 };
            let chunks = chunk_blocks(&blocks, config);
            let document: String = blocks.iter().map(|b| non_space(&b.text)).collect();
            let chunked: String = chunks.iter().map(|c| non_space(&c.text)).collect();
            prop_assert_eq!(document, chunked);
            for chunk in &chunks {
                prop_assert!(chunk.text.chars().count() <= target, "{:?}", chunk.text);
            }
        }

        #[test]
        fn with_overlap_nothing_is_dropped(
            blocks in arbitrary_blocks(), target in 16usize..300, overlap in 0usize..150,
        ) {
            let config = ChunkConfig { target_chars: target, overlap_chars: overlap };
            let chunks = chunk_blocks(&blocks, config);
            let document: String = blocks.iter().map(|b| non_space(&b.text)).collect();
            let chunked: String = chunks.iter().map(|c| non_space(&c.text)).collect();
            prop_assert!(is_subsequence(&document, &chunked));
            for chunk in &chunks {
                prop_assert!(chunk.text.chars().count() <= config.sanitised().target_chars);
            }
        }
    }
}
