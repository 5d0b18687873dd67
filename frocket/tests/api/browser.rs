//! The funnel explorer page in a real browser: Debian's chromium, headless, driven through
//! chromedriver (WebDriver, the `fantoccini` crate). It builds the fixture's funnel through the
//! page's controls, runs it (the streamed query), and the drawn numbers must equal the API's
//! answer for the query the page shows, which must equal the hand-checked one. A screenshot is
//! written to `$CARGO_TARGET_TMPDIR/explorer.png` (copied to docs/explorer.png for the README).

use crate::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn chromedriver() -> (Driver, u16) {
    let port = integration_tests::free_port();
    let bin = std::env::var("FROCKET_TEST_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let child = Command::new(&bin)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {bin} (Debian's chromium-driver; cargo xtask test installs it): {e}"));
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(t.elapsed() < Duration::from_secs(20), "chromedriver did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    (Driver(child), port)
}

async fn browser(port: u16) -> Client {
    let mut caps = serde_json::Map::new();
    let binary = std::env::var("FROCKET_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": binary, "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                          "--window-size=1280,1200", "--hide-scrollbars"]}),
    );
    ClientBuilder::rustls().unwrap().capabilities(caps).connect(&format!("http://127.0.0.1:{port}")).await.unwrap()
}

/// Sets step `i` (1-based) to `column op value`.
async fn set_step(b: &Client, i: usize, column: &str, op: &str, value: &str) {
    let li = format!("#steps li:nth-child({i})");
    b.find(Locator::Css(&format!("{li} select.col"))).await.unwrap().select_by_value(column).await.unwrap();
    b.find(Locator::Css(&format!("{li} select.op"))).await.unwrap().select_by_value(op).await.unwrap();
    let v = b.find(Locator::Css(&format!("{li} input.value"))).await.unwrap();
    v.clear().await.unwrap();
    v.send_keys(value).await.unwrap();
}

async fn attrs(b: &Client, css: &str, names: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for e in b.find_all(Locator::Css(css)).await.unwrap() {
        let mut row = Vec::new();
        for n in names {
            row.push(e.attr(n).await.unwrap().unwrap_or_default());
        }
        out.push(row);
    }
    out
}

#[tokio::test]
async fn the_page_draws_the_funnel_the_api_answers() {
    let dirs = Dirs::fixture();
    let root = dirs.data().display().to_string();
    let server = Server::start(&dirs.home("home"), &["--allow-root", &root], &[]);
    let c = client();
    let (s, _) = post_json(&c, &server.at("/datasets/register"), &dirs.register_body("shop").to_string()).await;
    assert_eq!(s, 200);
    let (_driver, port) = chromedriver();
    let b = browser(port).await;
    b.goto(&server.at("/")).await.unwrap();
    b.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("#steps li select.col option")).await.unwrap();

    // Build view → cart → buy, broken down by country.
    set_step(&b, 1, "event", "==", "view").await;
    for _ in 0..2 {
        b.find(Locator::Id("add-step")).await.unwrap().click().await.unwrap();
    }
    set_step(&b, 2, "event", "==", "cart").await;
    set_step(&b, 3, "event", "==", "buy").await;
    // Values are suggested from the schema's top values, most frequent first.
    let suggested = attrs(&b, "#steps li:nth-child(1) datalist option", &["value"]).await;
    let suggested: Vec<&str> = suggested.iter().map(|r| r[0].as_str()).collect();
    let (_, schema) = get_json(&c, &server.at("/datasets/shop/schema?full=true")).await;
    let mut top: Vec<(&String, f64)> = schema["columns"]["event"]["colattrs"]["catTopValues"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k, v.as_f64().unwrap()))
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    assert_eq!(suggested, top.iter().map(|t| t.0.as_str()).collect::<Vec<_>>());
    assert_eq!(suggested[0], "view", "6 of 13 rows");
    b.find(Locator::Id("breakdown")).await.unwrap().select_by_value("country").await.unwrap();
    b.find(Locator::Id("run")).await.unwrap().click().await.unwrap();
    b.wait().at_most(Duration::from_secs(60)).for_element(Locator::Css("#result[data-state='done']")).await.unwrap();

    // The query the page shows, answered by the API.
    let shown = b.find(Locator::Id("query-json")).await.unwrap().text().await.unwrap();
    let query: Value = serde_json::from_str(&shown).unwrap();
    let (s, api) = post_json(&c, &server.at("/datasets/shop/query"), &query.to_string()).await;
    assert_eq!(s, 200, "{api}");
    assert_eq!(steps(&api), vec![5, 3, 1], "the hand-checked answer");

    // The funnel bars: counts and conversions as drawn.
    let drawn = attrs(&b, "#funnel-svg g.step", &["data-count", "data-conv-prev", "data-conv-first"]).await;
    let counts: Vec<u64> = drawn.iter().map(|r| r[0].parse().unwrap()).collect();
    assert_eq!(counts, steps(&api));
    let conv: Vec<(&str, &str)> = drawn.iter().map(|r| (r[1].as_str(), r[2].as_str())).collect();
    assert_eq!(conv, vec![("100.0%", "100.0%"), ("60.0%", "60.0%"), ("33.3%", "20.0%")]);
    let labels: Vec<String> = {
        let mut v = Vec::new();
        for e in b.find_all(Locator::Css("#funnel-svg text.count")).await.unwrap() {
            v.push(e.text().await.unwrap());
        }
        v
    };
    assert_eq!(labels, vec!["5", "3", "1"]);

    // Time to convert, drawn per step: the API's median and p90 from the previous step.
    let timing = attrs(&b, "#funnel-svg g.step", &["data-p50-prev", "data-p90-prev"]).await;
    let api_steps = api["funnel"]["sequence"].as_array().unwrap();
    for (k, t) in timing.iter().enumerate().skip(1) {
        let tm = &api_steps[k]["timings"]["fromPrevious"];
        let fmt = |x: &Value| format!("{}", x.as_f64().unwrap() as i64);
        assert_eq!((t[0].clone(), t[1].clone()), (fmt(&tm["p50"]), fmt(&tm["p90"])), "step {k}");
    }
    // Hand-checked: view → cart after 1, 4 and 2 (median 2); cart → buy after 1.
    assert_eq!(timing[1][0], "2");
    assert_eq!(timing[2][0], "1");

    // The breakdown bars: users per country per step, as the API's funnel.breakdown.
    let bars = attrs(&b, "#breakdown-svg g.bar", &["data-step", "data-value", "data-count"]).await;
    let mut drawn: BTreeMap<(usize, String), u64> = BTreeMap::new();
    for r in &bars {
        drawn.insert((r[0].parse().unwrap(), r[1].clone()), r[2].parse().unwrap());
    }
    let mut expected: BTreeMap<(usize, String), u64> = BTreeMap::new();
    for v in api["funnel"]["breakdown"]["values"].as_array().unwrap() {
        for (i, u) in v["users"].as_array().unwrap().iter().enumerate() {
            expected.insert((i, v["value"].as_str().unwrap_or("(null)").to_string()), u.as_u64().unwrap());
        }
    }
    assert_eq!(drawn, expected);
    // Hand-checked (each user by its earliest view's country): us 2, 2, 1; de 2, 0, 0; fr 1, 1, 0.
    assert_eq!(expected[&(1, "us".to_string())], 2);
    assert_eq!(expected[&(0, "de".to_string())], 2);
    assert_eq!(expected[&(1, "de".to_string())], 0, "u3 carts before viewing");
    assert_eq!(expected[&(1, "fr".to_string())], 1);

    let png = b.screenshot().await.unwrap();
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explorer.png");
    std::fs::write(&path, &png).unwrap();
    assert!(png.starts_with(b"\x89PNG"));

    // A fault is shown with its JSON path: a number column compared to a word.
    set_step(&b, 3, "price", ">", "lots").await;
    b.find(Locator::Id("run")).await.unwrap().click().await.unwrap();
    b.wait().at_most(Duration::from_secs(30)).for_element(Locator::Css("#result[data-state='error']")).await.unwrap();
    let err = b.find(Locator::Css("#errors .error")).await.unwrap().text().await.unwrap();
    assert!(err.contains("funnel.sequence[2]"), "{err}");
    b.close().await.unwrap();
}
