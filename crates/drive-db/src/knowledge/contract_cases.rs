//! The knowledge index's cases of the contract suite, run on every backend; the reference
//! semantics are those of drive-core's `MemoryKnowledgeIndexForTests`.

use std::sync::Arc;

use drive_core::{BotName, Chunk, ChunkId, ContentHash, IndexedDocument, ObjectKey, SearchQuery};

use crate::contract::Fixture;

fn bot(name: &str) -> BotName {
    BotName::new(name).expect("valid bot name")
}

/// Returns a document of `texts`, each chunk with the vector `[len, 1]` when `model` is set.
fn document(key: &str, texts: &[&str], model: Option<&str>) -> IndexedDocument {
    let key = ObjectKey::new(key);
    let chunks = texts
        .iter()
        .enumerate()
        .map(|(ordinal, text)| Chunk {
            id: ChunkId::of(&key, text, 0),
            ordinal: ordinal as u32,
            heading: format!("H{ordinal}"),
            text: (*text).to_owned(),
            vector: model.map(|_| vec![text.len() as f32, 1.0]),
        })
        .collect();
    let collection = drive_core::Kind::collection(key.as_str()).unwrap_or("default").to_owned();
    let content_hash = Some(ContentHash::of(texts.join("\n").as_bytes()));
    IndexedDocument { key, collection, chunks, model: model.map(str::to_owned), content_hash }
}

fn query(text: &str, collection: Option<&str>, vector: Option<(&str, Vec<f32>)>) -> SearchQuery {
    SearchQuery {
        text: text.to_owned(),
        collection: collection.map(str::to_owned),
        limit: 10,
        vector: vector.map(|(model, v)| (model.to_owned(), v)),
    }
}

/// Replacing a document drops chunks that left it, keeps the vectors of chunks that stayed
/// and is idempotent; removing it empties the index.
pub async fn knowledge_documents_replace_keep_vectors_and_remove(fixture: Arc<dyn Fixture>) {
    let index = fixture.open().await.knowledge_index();
    let bot = bot("kb");
    let key = "kb.gbkb/guide/manual.md";

    let first = document(key, &["alpha text", "beta text", "gamma text"], Some("m1"));
    index.replace_document(&bot, &first).await.expect("replace");
    index.replace_document(&bot, &first).await.expect("replace again");
    let stats = index.stats(&bot).await.expect("stats");
    assert_eq!((stats.documents, stats.chunks), (1, 3));
    assert_eq!(stats.vectors, [("m1".to_owned(), 3)]);

    // The edit keeps alpha and gamma without new vectors, drops beta, adds delta.
    let mut edited = document(key, &["alpha text", "gamma text", "delta text"], None);
    edited.chunks[2].vector = Some(vec![10.0, 1.0]);
    edited.model = Some("m1".to_owned());
    edited.chunks[0].vector = None;
    edited.chunks[1].vector = None;
    index.replace_document(&bot, &edited).await.expect("replace edited");
    let key_obj = ObjectKey::new(key);
    let mut embedded = index.embedded_chunks(&bot, &key_obj, "m1").await.expect("embedded");
    embedded.sort();
    let mut expected: Vec<ChunkId> = edited.chunks.iter().map(|c| c.id.clone()).collect();
    expected.sort();
    assert_eq!(embedded, expected, "kept chunks keep their vectors");
    assert!(index.embedded_chunks(&bot, &key_obj, "m2").await.expect("embedded").is_empty());
    let hits = index.search(&bot, &query("beta", None, None)).await.expect("search");
    assert!(hits.is_empty(), "a chunk that left the document leaves search: {hits:?}");
    let hits = index.search(&bot, &query("gamma", None, None)).await.expect("search");
    assert_eq!((hits[0].ordinal, hits[0].heading.as_str()), (1, "H1"), "placement updated");

    index.remove_document(&bot, &key_obj).await.expect("remove");
    assert_eq!(index.stats(&bot).await.expect("stats").chunks, 0);
    let hits = index.search(&bot, &query("alpha", None, None)).await.expect("search");
    assert!(hits.is_empty());
}

/// Search fuses lexical and vector ranks, filters by collection and bot, compares only
/// vectors of the query's model and dimension, and survives odd query text.
pub async fn knowledge_search_is_hybrid_and_scoped(fixture: Arc<dyn Fixture>) {
    let index = fixture.open().await.knowledge_index();
    let (bot, other) = (bot("kbsearch"), bot("kbother"));
    let sales = document("kb.gbkb/sales/p.md", &["pricing starts at ten", "short"], Some("m1"));
    let loose = document("kb.gbkb/loose.md", &["pricing for partners is private"], Some("m2"));
    index.replace_document(&bot, &sales).await.expect("replace");
    index.replace_document(&bot, &loose).await.expect("replace");
    index.replace_document(&other, &sales).await.expect("replace other bot");

    let hits = index.search(&bot, &query("Pricing", None, None)).await.expect("search");
    assert_eq!(hits.len(), 2);
    let hits = index.search(&bot, &query("pricing", Some("sales"), None)).await.expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].key.as_str(), "kb.gbkb/sales/p.md");
    assert_eq!(hits[0].collection, "sales");
    assert_eq!(hits[0].lexical_rank, Some(1));

    // The vector [5, 1] is nearest "short"; only m1 vectors take part.
    let vector = Some(("m1", vec![5.0, 1.0]));
    let hits = index.search(&bot, &query("zzz", None, vector)).await.expect("search");
    let texts: Vec<&str> = hits.iter().map(|h| h.text.as_str()).collect();
    assert_eq!(texts, ["short", "pricing starts at ten"]);
    assert!(hits.iter().all(|h| h.vector_rank.is_some() && h.lexical_rank.is_none()));
    let other_dimension = Some(("m1", vec![5.0, 1.0, 0.0]));
    let hits = index.search(&bot, &query("zzz", None, other_dimension)).await.expect("search");
    assert!(hits.is_empty(), "vectors of another dimension are never compared");

    let hybrid = Some(("m1", vec![5.0, 1.0]));
    let hits = index.search(&bot, &query("pricing", None, hybrid)).await.expect("search");
    assert_eq!(hits[0].text, "pricing starts at ten", "in both lists, so first");

    for odd in ["", "\"", "AND OR NOT", "a:b*", "'; DROP TABLE kb_chunks; --", "ação ü"] {
        index.search(&bot, &query(odd, None, None)).await.expect("odd query text");
    }
}

/// Chunks without a vector of a model are listed for re-embedding and take the vectors
/// given; a later search uses them.
pub async fn knowledge_vectors_catch_up_with_a_new_model(fixture: Arc<dyn Fixture>) {
    let index = fixture.open().await.knowledge_index();
    let bot = bot("kbmodel");
    index
        .replace_document(&bot, &document("kb.gbkb/a.md", &["one", "two", "three"], Some("old")))
        .await
        .expect("replace");
    let pending = index.chunks_without_vector(&bot, "new", 2).await.expect("pending");
    assert_eq!(pending.len(), 2);
    let vectors: Vec<(ChunkId, Vec<f32>)> =
        pending.iter().map(|chunk| (chunk.id.clone(), vec![1.0, 0.0, 0.0])).collect();
    index.set_vectors(&bot, "new", &vectors).await.expect("set vectors");
    let stats = index.stats(&bot).await.expect("stats");
    assert_eq!(stats.vectors, [("new".to_owned(), 2), ("old".to_owned(), 1)]);
    let rest = index.chunks_without_vector(&bot, "new", 10).await.expect("pending");
    assert_eq!(rest.len(), 1);
    let hits = index
        .search(&bot, &query("", None, Some(("new", vec![1.0, 0.0, 0.0]))))
        .await
        .expect("search");
    assert_eq!(hits.len(), 2);
}

/// The stored chunk lists outlive damage to the searchable rows: lost rows, rows of no
/// document, a dropped lexical index or a dropped table come back from them, and the
/// stored content hashes are reported.
pub async fn knowledge_repair_rebuilds_from_stored_text(fixture: Arc<dyn Fixture>) {
    let db = fixture.open().await;
    let index = db.knowledge_index();
    let bot = bot("kbrepair");
    let manual =
        document("kb.gbkb/manual.md", &["alpha text", "beta text", "gamma text"], Some("m"));
    let faq = document("kb.gbkb/faq.md", &["delta question"], None);
    index.replace_document(&bot, &manual).await.expect("replace");
    index.replace_document(&bot, &faq).await.expect("replace");
    let clean = index.repair(&bot).await.expect("repair");
    assert!(!clean.repaired_anything(), "{clean:?}");
    assert_eq!(clean.documents, 2);
    let mut hashes = index.document_hashes(&bot).await.expect("hashes");
    hashes.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        hashes,
        [
            (faq.key.clone(), faq.content_hash.unwrap()),
            (manual.key.clone(), manual.content_hash.unwrap())
        ]
    );

    // Lost rows and an orphan row.
    db.execute_for_tests("DELETE FROM kb_chunks WHERE text IN ('beta text', 'delta question')")
        .await
        .expect("damage");
    db.execute_for_tests(
        "INSERT INTO kb_chunks (bot, chunk_id, doc_key, collection, ordinal, heading, text, updated_at) \
         VALUES ('kbrepair', 'orphan', 'kb.gbkb/gone.md', 'default', 0, '', 'stray words', 0)",
    )
    .await
    .expect("damage");
    let report = index.repair(&bot).await.expect("repair");
    assert_eq!((report.chunks_restored, report.orphans_removed), (2, 1), "{report:?}");
    let stats = index.stats(&bot).await.expect("stats");
    assert_eq!((stats.documents, stats.chunks), (2, 4));
    assert_eq!(stats.vectors, [("m".to_owned(), 2)], "restored rows wait for a vector");
    for (text, key) in [("beta", "kb.gbkb/manual.md"), ("delta", "kb.gbkb/faq.md")] {
        let hits = index.search(&bot, &query(text, None, None)).await.expect("search");
        assert_eq!(hits[0].key.as_str(), key, "{text} is searchable again");
    }
    let hits = index.search(&bot, &query("stray", None, None)).await.expect("search");
    assert!(hits.is_empty(), "{hits:?}");

    // A dropped table comes back with its rows.
    db.execute_for_tests("DROP TABLE kb_chunks").await.expect("damage");
    let report = index.repair(&bot).await.expect("repair");
    assert!(report.schema_rebuilt);
    assert_eq!(report.chunks_restored, 4);
    let hits = index.search(&bot, &query("gamma", None, None)).await.expect("search");
    assert_eq!(hits[0].key.as_str(), "kb.gbkb/manual.md");
    assert!(!index.repair(&bot).await.expect("repair").repaired_anything());
}
