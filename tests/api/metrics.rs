//! `GET /metrics`: the queue depth from the database and this process's counts, in
//! Prometheus' text format, moving as exports complete and archives are downloaded.

use crate::helpers::{fixture_login, TestApp};

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{series} missing from:\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_exports_mail_and_downloads_and_read_the_queue_depth() {
    let app = TestApp::builder().with_workers().spawn_with_sample().await;
    let scrape = || async {
        let response = app.get("/metrics").send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4"));
        response.text().await.unwrap()
    };
    let before = scrape().await;
    assert_eq!(value(&before, "udd_operations{status=\"completed\"}"), 0.0);
    assert_eq!(
        value(&before, "udd_operations_ended_total{outcome=\"completed\"}"),
        0.0
    );

    let alice = fixture_login("alice");
    let done = app.export_and_wait(&alice, None).await;
    let file_id = done["exportOperation"]["fileId"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app.get_as(&alice, &format!("/data-export/{file_id}")).await;
    assert_eq!(response.status(), 200);
    let size = response.bytes().await.unwrap().len() as f64;

    // The worker counts its outcome just after the completing commit the request saw.
    let started = std::time::Instant::now();
    let after = loop {
        let text = scrape().await;
        if value(&text, "udd_operations_ended_total{outcome=\"completed\"}") == 1.0 {
            break text;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(10),
            "{text}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(value(&after, "udd_operations{status=\"completed\"}"), 1.0);
    assert_eq!(value(&after, "udd_operations_started_total"), 1.0);
    assert_eq!(value(&after, "udd_export_duration_seconds_count"), 1.0);
    assert_eq!(value(&after, "udd_export_bytes_sum"), size);
    assert_eq!(value(&after, "udd_downloads_total"), 1.0);
    assert_eq!(value(&after, "udd_download_bytes_total"), size);
    assert!(value(&after, "udd_workers{state=\"alive\"}") >= 1.0);
}
