//! The dashboard in a real headless Chromium (the system's chromium and chromedriver, driven
//! with fantoccini): a real race imported from ../shared/data, its classification in the
//! official order, the charts drawn, and a lap POSTed to the API appearing without a reload.
//! Every wait polls the page with a deadline of at most 10 s.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use racestore::analysis::simulation::{self, Model, SessionOptions};
use racestore::import::alkamel;
use racestore::RaceStore;
use racestore_server::{router, Options};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const RACE_1: &str = "grcup-aeropulse/barber/23_AnalysisEnduranceWithSections_Race 1_Anonymized.CSV";
const OFFICIAL: &str = "grcup-aeropulse/barber/05_Results by Class GR Cup Race 1 Official_Anonymized.CSV";
const DEADLINE: Duration = Duration::from_secs(10);

/// `../shared/data`, or `None` after a SKIP line (a failure when `CI` is set).
fn data_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("RACESTORE_SHARED")
        .map_or_else(
            || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
            PathBuf::from,
        )
        .join("data");
    if dir.join(RACE_1).is_file() {
        return Some(dir);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {} is missing, and CI must not skip this test",
        dir.display()
    );
    eprintln!(
        "SKIP {test}: {} not found (a fresh clone has no shared/ folder)",
        dir.display()
    );
    None
}

/// Whether Chromium and its driver are installed; `false` after a SKIP line (a failure when `CI` is set).
fn chromium(test: &str) -> bool {
    if Path::new(CHROMIUM).is_file() && Path::new(CHROMEDRIVER).is_file() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{test}: {CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver), and CI must not skip this test"
    );
    eprintln!(
        "SKIP {test}: {CHROMIUM} or {CHROMEDRIVER} not installed (apt-get install chromium chromium-driver)"
    );
    false
}

/// The official classification: car numbers by position, read from the results export.
fn official_order(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let text = text.trim_start_matches('\u{feff}');
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(';').map(str::trim).collect();
    let column = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (pos, number) = (column("POS"), column("NUMBER"));
    let mut rows: Vec<(i64, String)> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split(';').map(str::trim).collect();
            (cells[pos].parse().unwrap(), cells[number].to_owned())
        })
        .collect();
    rows.sort();
    rows.into_iter().map(|(_, n)| n).collect()
}

/// chromedriver on a free port, killed when dropped.
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_chromedriver() -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting chromedriver");
    let driver = Driver { child, port };
    let started = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            started.elapsed() < DEADLINE,
            "chromedriver did not listen on {port} within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    driver
}

/// Sends one request with a JSON body; the status and the body.
fn http(addr: SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    let status = reply[9..12].parse().unwrap();
    let body = reply.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_owned();
    (status, body)
}

/// Runs `script` in the page until it returns something other than `null`, for at most 10 s.
async fn wait_for(client: &fantoccini::Client, what: &str, script: &str) -> Value {
    let started = Instant::now();
    loop {
        let value = client.execute(script, vec![]).await.unwrap();
        if !value.is_null() {
            return value;
        }
        if started.elapsed() >= DEADLINE {
            let page = client
                .execute("return document.body.innerText.slice(0, 2000);", vec![])
                .await
                .unwrap_or_default();
            panic!(
                "the page did not show {what} within 10 s; it shows:\n{}",
                page.as_str().unwrap_or("")
            );
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_a_real_race_in_the_official_order_draws_its_charts_and_updates_live() {
    let test = "dashboard_real_race";
    let Some(data) = data_dir(test) else { return };
    if !chromium(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = format!("json:{}", dir.path().join("storage").display());
    let store: Arc<dyn RaceStore> = Arc::from(racestore::open(&url).unwrap());
    let options = alkamel::Options {
        date: Some("2025-09-06".to_owned()),
        ..alkamel::Options::default()
    };
    let summary = alkamel::import(store.as_ref(), &data.join(RACE_1), &options).unwrap();
    let session = summary.session.id;
    let saved = racestore::analysis::metrics::analyze_session(store.as_ref(), session)
        .and_then(|m| racestore::analysis::metrics::save_session_metrics(store.as_ref(), &m));
    saved.unwrap();
    let sim_options = SessionOptions {
        n_laps: None,
        iterations: 2000,
        seed: 42,
        model: Model::Original,
        sample_races: 0,
    };
    let simulated = simulation::simulate_session(store.as_ref(), session, &sim_options).unwrap();
    simulation::save_simulation(store.as_ref(), &simulated).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = router(
        Arc::clone(&store),
        Options {
            listen: Some(addr),
            ..Options::default()
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let driver = start_chromedriver();
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_owned(),
        json!({"binary": CHROMIUM, "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,1500"]}),
    );
    let client = fantoccini::ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(&format!("http://127.0.0.1:{}", driver.port))
        .await
        .expect("a chromedriver session");

    client
        .goto(&format!("http://{addr}/?session={session}"))
        .await
        .unwrap();

    // The classification, row by row, in the official results' order.
    let official = official_order(&data.join(OFFICIAL));
    assert_eq!(official.len(), 22);
    let rows = wait_for(
        &client,
        "the 22 rows of the classification",
        "const rows = [...document.querySelectorAll('#classification tbody tr')]; \
         return rows.length === 22 ? rows.map(r => [r.querySelector('.position').textContent, r.dataset.competitor]) : null;",
    )
    .await;
    let shown: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[1].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        shown, official,
        "the dashboard's classification is not the official one"
    );
    assert_eq!(rows[0][0], "1");

    // The charts: one line per car on the lap-time and position charts, bars for sectors and win chances.
    let charts = wait_for(
        &client,
        "the charts",
        "const n = s => document.querySelectorAll(s).length; \
         const c = [n('#lap-chart polyline.series'), n('#position-chart polyline.series'), n('#sector-chart rect.bar'), n('#win-chart rect.bar'), n('#metrics tbody tr')]; \
         return c.every(x => x > 0) ? c : null;",
    )
    .await;
    assert_eq!(
        charts,
        json!([22, 22, 66, 22, 22]),
        "lap lines, position lines, sector bars, win bars, metric rows"
    );
    let points = client
        .execute(
            "return [...document.querySelectorAll('#position-chart polyline.series')].map(p => p.points.length).reduce((a, b) => a + b, 0);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(points, json!(579), "one point per lap on the position chart");

    // Live: a lap POSTed for the car that retired after 13 laps shows up without a reload.
    wait_for(
        &client,
        "the live stream connected",
        "return document.querySelector('#live-status.live') ? true : null;",
    )
    .await;
    let last = official.last().unwrap().clone();
    // The car's driver, as its laps name them.
    let (status, detail) = http(addr, "GET", &format!("/api/v1/sessions/{session}"), "");
    assert_eq!(status, 200, "{detail}");
    let detail: Value = serde_json::from_str(&detail).unwrap();
    let standing = detail["analysis"]["classification"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["car"] == last.as_str())
        .unwrap_or_else(|| panic!("car {last} is not classified: {detail}"));
    let driver = standing["drivers"][0]["driver_id"].as_str().unwrap().to_owned();
    let laps_before = wait_for(
        &client,
        "the last car's laps",
        &format!("const r = document.querySelector('#classification tr[data-competitor=\"{last}\"] .laps'); return r ? r.textContent : null;"),
    )
    .await;
    assert_eq!(laps_before, "13");
    let lap = json!({"driver_id": driver, "lap_number": 14, "lap_time": 99.5, "sector_1": 27.1, "sector_2": 43.3, "sector_3": 29.1, "lap_type": "RACE_LAP", "position": 22});
    let posted = Instant::now();
    let (status, body) = http(
        addr,
        "POST",
        &format!("/api/v1/sessions/{session}/laps"),
        &lap.to_string(),
    );
    assert_eq!(status, 201, "{body}");
    wait_for(
        &client,
        "the new lap in the classification",
        &format!("const r = document.querySelector('#classification tr[data-competitor=\"{last}\"] .laps'); return r && r.textContent === '14' ? true : null;"),
    )
    .await;
    eprintln!(
        "dashboard: the POSTed lap was on the page {} ms after the POST",
        posted.elapsed().as_millis()
    );
    let points = client
        .execute(
            "return [...document.querySelectorAll('#position-chart polyline.series')].map(p => p.points.length).reduce((a, b) => a + b, 0);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(points, json!(580), "the new lap is on the position chart");

    let png = client.screenshot().await.unwrap();
    let shot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&shot, &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is a PNG");
    eprintln!("dashboard: screenshot saved to {}", shot.display());
    client.close().await.unwrap();
}
