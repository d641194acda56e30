//! Knowledge end to end: the corpus's documents (Markdown and PDF) indexed and searchable
//! on SQLite and PostgreSQL, each found first by a sentence from its middle, a removed
//! document gone from search; a long document edited in one paragraph re-embeds only that
//! paragraph's chunks (`sync --json` counts); and a running service that embeds through the
//! OpenAI-compatible service its bot's settings name, answers hybrid searches over HTTP and
//! re-embeds everything when the settings name another model.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use drive_db::contract::PgTestDatabase;
use drive_server::{App, Config, Service};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

use crate::support::{copy_packages, corpus_dir, run_json};

#[tokio::test(flavor = "multi_thread")]
async fn corpus_knowledge_follows_the_bucket_with_sqlite() {
    let Some(corpus) = corpus_dir("corpus_knowledge_follows_the_bucket_with_sqlite") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let database = format!("sqlite:{}", work.path().join("state.db").display());
    index_search_and_remove(&corpus, work.path(), &database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_document_is_found_by_a_sentence_from_its_middle_with_sqlite() {
    let Some(corpus) = corpus_dir("every_corpus_document_is_found_by_a_sentence_from_its_middle")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let database = format!("sqlite:{}", work.path().join("state.db").display());
    find_every_document(&corpus, work.path(), &database).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_corpus_document_is_found_by_a_sentence_from_its_middle_with_postgres() {
    let Some(corpus) = corpus_dir("every_corpus_document_is_found_by_a_sentence_from_its_middle")
    else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let database = PgTestDatabase::create().await.expect("PostgreSQL at DATABASE_URL");
    find_every_document(&corpus, work.path(), database.url()).await;
    database.drop_database().await.unwrap();
}

/// Syncs the corpus, then searches each Markdown, PDF and DOCX knowledge document with a
/// sentence from the middle of its extracted text: the document must come first.
async fn find_every_document(corpus: &Path, work: &Path, database: &str) {
    let root = work.join("bots");
    copy_packages(corpus, &root);
    let storage = format!("fs:{}", root.display());
    run_json(&["--storage", &storage, "--database", database, "sync"]).await;

    let documents = knowledge_documents(&root, &["md", "pdf", "docx"]);
    assert!(documents.len() >= 9, "{documents:?}");
    for (bot, key, path) in documents {
        let bytes = std::fs::read(&path).unwrap();
        let text = drive_handlers::knowledge::extract_text(&key, &bytes).unwrap();
        let sentence = middle_sentence(&text).unwrap_or_else(|| panic!("no sentence in {key}"));
        let args = ["--storage", &storage, "--database", database, "search", &bot, "-k", "3"];
        let mut args = args.to_vec();
        args.push(&sentence);
        let (_, found) = run_json(&args).await;
        assert_eq!(found["results"][0]["key"], key.as_str(), "{sentence:?}: {found}");
    }
}

/// Returns `(bot, key, path)` of every document under a `*.gbkb` folder of the packages in
/// `root` whose extension is one of `extensions`, sorted by key.
fn knowledge_documents(root: &Path, extensions: &[&str]) -> Vec<(String, String, PathBuf)> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path, out) } else { out.push(path) }
        }
    }
    let mut documents = Vec::new();
    for package in std::fs::read_dir(root).unwrap() {
        let package = package.unwrap().path();
        let Some(bot) = package.file_name().and_then(|n| n.to_str()?.strip_suffix(".gbai")) else {
            continue;
        };
        let mut files = Vec::new();
        walk(&package, &mut files);
        for path in files {
            let key = path.strip_prefix(&package).unwrap().to_string_lossy().replace('\\', "/");
            let in_kb = key.split('/').next().is_some_and(|first| first.ends_with(".gbkb"));
            let extension = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if in_kb && extensions.contains(&extension.to_ascii_lowercase().as_str()) {
                documents.push((bot.to_owned(), key, path));
            }
        }
    }
    documents.sort_by(|a, b| a.1.cmp(&b.1));
    documents
}

/// Returns the sentence nearest the middle of `text` among those of at least six words.
fn middle_sentence(text: &str) -> Option<String> {
    let sentences: Vec<String> = text
        .split(['.', '\n', '!', '?'])
        .map(|sentence| sentence.trim().trim_start_matches('-').trim().to_owned())
        .filter(|sentence| sentence.split_whitespace().count() >= 6)
        .collect();
    sentences.get(sentences.len() / 2).cloned()
}

#[tokio::test(flavor = "multi_thread")]
async fn corpus_knowledge_follows_the_bucket_with_postgres() {
    let Some(corpus) = corpus_dir("corpus_knowledge_follows_the_bucket_with_postgres") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let database = PgTestDatabase::create().await.expect("PostgreSQL at DATABASE_URL");
    index_search_and_remove(&corpus, work.path(), database.url()).await;
    database.drop_database().await.unwrap();
}

async fn index_search_and_remove(corpus: &Path, work: &Path, database: &str) {
    let root = work.join("bots");
    copy_packages(corpus, &root);
    let storage = format!("fs:{}", root.display());
    let global = ["--storage", storage.as_str(), "--database", database];
    let args = |rest: &[&str]| -> Vec<String> {
        global.iter().chain(rest).map(|s| (*s).to_owned()).collect()
    };
    let run = async |rest: &[&str]| {
        let owned = args(rest);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        run_json(&refs).await.1
    };

    // Every knowledge document of the corpus indexes.
    let report = run(&["sync"]).await;
    for bot in report["bots"].as_array().unwrap() {
        for error in bot["errors"].as_array().unwrap() {
            assert!(!error["key"].as_str().unwrap().contains(".gbkb/"), "{error}");
        }
    }

    // A PDF's text and a Markdown guide's are found, per collection.
    let found = run(&["search", "ai-search", "Auxilion", "hardware"]).await;
    assert_eq!(found["mode"], "lexical", "no embedder configured");
    assert_eq!(found["results"][0]["key"], "ai-search.gbkb/docs/default.pdf", "{found}");
    let found = run(&["search", "law", "--collection", "default", "divorce", "custody"]).await;
    assert_eq!(found["results"][0]["key"], "law.gbkb/legal-services.md", "{found}");
    assert_eq!(found["results"][0]["collection"], "default");
    let found = run(&["search", "law", "--collection", "nothing-here", "divorce"]).await;
    assert!(found["results"].as_array().unwrap().is_empty());

    // A removed document leaves search with the next pass.
    std::fs::remove_file(root.join("ai-search.gbai/ai-search.gbkb/docs/default.pdf")).unwrap();
    run(&["sync"]).await;
    let found = run(&["search", "ai-search", "Auxilion", "hardware"]).await;
    for hit in found["results"].as_array().unwrap() {
        assert_ne!(hit["key"], "ai-search.gbkb/docs/default.pdf", "{found}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_embeds_through_the_service_its_settings_name_and_searches_over_http() {
    let embeddings = start_embedding_service().await;
    let work = tempfile::tempdir().unwrap();
    let bots = work.path().join("bots");
    assert!(drive_server::example::seed_if_missing(&bots).unwrap());
    let package = bots.join("example.gbai");
    std::fs::create_dir_all(package.join("example.gbkb/faq")).unwrap();
    std::fs::write(
        package.join("example.gbkb/faq/hours.md"),
        "# Opening hours\n\nThe office opens at nine and closes at five on weekdays.\n",
    )
    .unwrap();
    let config_csv = package.join("example.gbot/config.csv");
    let mut settings = std::fs::read_to_string(&config_csv).unwrap();
    settings.push_str(&format!("\nembedding-url,http://{embeddings}\nembedding-model,tiny\n"));
    std::fs::write(&config_csv, settings).unwrap();

    let mut config = Config {
        storage: format!("fs:{}", bots.display()),
        database: format!("sqlite:{}", work.path().join("drive.db").display()),
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    config.monitor.interval = Duration::from_millis(200);
    let service = Service::start(App::open(config).await.unwrap()).await.unwrap();
    let addr = service.local_addr();

    let path = "/api/bots/example/search?q=office%20hours&collection=faq";
    let mut last = String::new();
    for _ in 0..100 {
        let (status, body) = get(addr, path).await;
        last = body;
        let parsed: serde_json::Value = serde_json::from_str(&last).unwrap_or_default();
        // The document may have been indexed in the cycle before the settings were applied;
        // its vector then arrives in the background.
        if status == 200 && parsed["mode"] == "hybrid" && parsed["results"][0]["vector_rank"] == 1 {
            assert_eq!(parsed["results"][0]["key"], "example.gbkb/faq/hours.md");
            assert_eq!(parsed["model"], format!("tiny@http://{embeddings}"));
            assert_eq!(parsed["results"][0]["lexical_rank"], 1);
            assert_eq!(get(addr, "/api/bots/example/search?q=").await.0, 400);
            switch_model(addr, &config_csv, embeddings).await;
            assert!(service.stop().await);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no hybrid hit: {last}");
}

/// Names another model in the bot's settings and waits until every chunk has a vector of
/// it, though no document changed; search then uses the new model.
async fn switch_model(addr: SocketAddr, config_csv: &Path, embeddings: SocketAddr) {
    let settings = std::fs::read_to_string(config_csv).unwrap();
    std::fs::write(config_csv, settings.replace("embedding-model,tiny", "embedding-model,tiny2"))
        .unwrap();
    let model = format!("tiny2@http://{embeddings}");
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        let (status, body) = get(addr, "/api/bots/example").await;
        last = serde_json::from_str(&body).unwrap_or_default();
        let kb = &last["knowledge"];
        let vectors = kb["vectors"].as_array().cloned().unwrap_or_default();
        let all_new =
            vectors.iter().any(|pair| pair[0] == model.as_str() && pair[1] == kb["chunks"]);
        if status == 200 && kb["model"] == model.as_str() && all_new {
            assert_eq!(kb["pending_vectors"], 0, "{last}");
            let (_, body) = get(addr, "/api/bots/example/kb/search?q=office&k=1").await;
            let found: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(found["model"], model.as_str(), "{found}");
            assert_eq!(found["results"].as_array().unwrap().len(), 1, "{found}");
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("not re-embedded with {model}: {last}");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_edited_paragraph_of_two_hundred_is_all_a_sync_embeds_again() {
    let embeddings = start_embedding_service().await;
    let work = tempfile::tempdir().unwrap();
    let package = work.path().join("bots/manual.gbai");
    std::fs::create_dir_all(package.join("manual.gbot")).unwrap();
    std::fs::create_dir_all(package.join("manual.gbkb")).unwrap();
    let config = format!("name,value\nembedding-url,http://{embeddings}\nembedding-model,tiny\n");
    std::fs::write(package.join("manual.gbot/config.csv"), config).unwrap();
    let document = package.join("manual.gbkb/handbook.md");
    std::fs::write(&document, handbook(None)).unwrap();
    let storage = format!("fs:{}", work.path().join("bots").display());
    let database = format!("sqlite:{}", work.path().join("state.db").display());
    let args = |rest: &[&'static str]| -> Vec<String> {
        let global = ["--storage", storage.as_str(), "--database", database.as_str()];
        global.iter().map(|s| (*s).to_owned()).chain(rest.iter().map(|s| (*s).to_owned())).collect()
    };
    let run = async |rest: &[&'static str]| {
        let owned = args(rest);
        let refs: Vec<&str> = owned.iter().map(String::as_str).collect();
        run_json(&refs).await.1
    };

    // The settings and the document arrive in one pass: settings are applied first.
    let first = run(&["sync"]).await;
    let chunks = first["bots"][0]["embedded"].as_u64().unwrap();
    assert!(chunks >= 200, "{first}");
    assert_eq!(first["bots"][0]["reused"], 0);

    std::fs::write(&document, handbook(Some(137))).unwrap();
    let second = run(&["sync"]).await;
    let (embedded, reused) = (
        second["bots"][0]["embedded"].as_u64().unwrap(),
        second["bots"][0]["reused"].as_u64().unwrap(),
    );
    assert_eq!(embedded + reused, chunks, "{second}");
    assert!(embedded >= 1 && embedded * 50 <= chunks, "{embedded} of {chunks} re-embedded");

    let found = run(&["search", "manual", "heliotrope", "lanyard"]).await;
    assert_eq!(found["mode"], "hybrid", "{found}");
    assert!(found["results"][0]["text"].as_str().unwrap().contains("heliotrope"), "{found}");
    let old = run(&["search", "manual", "-k", "50", "article", "137", "retains"]).await;
    for hit in old["results"].as_array().unwrap() {
        assert!(!hit["text"].as_str().unwrap().contains("Article 137 retains"), "{hit}");
    }
}

/// A handbook of 200 paragraphs of about 600 characters, one chunk each.
fn handbook(edited: Option<usize>) -> String {
    let mut text = String::from("# Handbook\n\n");
    for idx in 0..200 {
        let opening = if Some(idx) == edited {
            format!("Article {idx} now requires a heliotrope lanyard for every visitor")
        } else {
            format!("Article {idx} retains the wording agreed at the annual meeting")
        };
        let filler = " and the committee describes the ordinary procedure again".repeat(9);
        text.push_str(&format!("{opening}{filler}.\n\n"));
    }
    text
}

/// Starts a loopback OpenAI-compatible embedding service: each text becomes
/// `[length, 1]`.
async fn start_embedding_service() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(answer_embeddings(stream));
        }
    });
    addr
}

async fn answer_embeddings(stream: tokio::net::TcpStream) {
    let mut reader = BufReader::new(stream);
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; length];
    if reader.read_exact(&mut body).await.is_err() {
        return;
    }
    let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let data: Vec<serde_json::Value> = request["input"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let len = text.as_str().unwrap_or("").len() as f32;
            serde_json::json!({ "index": index, "embedding": [len, 1.0] })
        })
        .collect();
    let answer = serde_json::json!({ "data": data }).to_string();
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{answer}",
        answer.len()
    );
    let _ = reader.into_inner().write_all(response.as_bytes()).await;
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
