//! Knowledge end to end: the corpus's documents (Markdown and PDF) indexed and searchable
//! on SQLite and PostgreSQL, a removed document gone from search; and a running service
//! that embeds through the OpenAI-compatible service its bot's settings name, answering
//! hybrid searches over HTTP.

use std::net::SocketAddr;
use std::path::Path;
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
    assert_eq!(found["hits"][0]["key"], "ai-search.gbkb/docs/default.pdf", "{found}");
    let found = run(&["search", "law", "--collection", "default", "divorce", "custody"]).await;
    assert_eq!(found["hits"][0]["key"], "law.gbkb/legal-services.md", "{found}");
    assert_eq!(found["hits"][0]["collection"], "default");
    let found = run(&["search", "law", "--collection", "nothing-here", "divorce"]).await;
    assert!(found["hits"].as_array().unwrap().is_empty());

    // A removed document leaves search with the next pass.
    std::fs::remove_file(root.join("ai-search.gbai/ai-search.gbkb/docs/default.pdf")).unwrap();
    run(&["sync"]).await;
    let found = run(&["search", "ai-search", "Auxilion", "hardware"]).await;
    for hit in found["hits"].as_array().unwrap() {
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
        if status == 200 && parsed["mode"] == "hybrid" && parsed["hits"][0]["vector_rank"] == 1 {
            assert_eq!(parsed["hits"][0]["key"], "example.gbkb/faq/hours.md");
            assert_eq!(parsed["model"], format!("tiny@http://{embeddings}"));
            assert_eq!(parsed["hits"][0]["lexical_rank"], 1);
            assert_eq!(get(addr, "/api/bots/example/search?q=").await.0, 400);
            assert!(service.stop().await);
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no hybrid hit: {last}");
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
