//! RetailRocket ingestion on small fixtures in the exact Kaggle format (header, quoting, value
//! formats). Expected values are worked out by hand in the comments.

use dataprep::retailrocket::{IngestConfig, ingest};
use polars::prelude::*;
use std::path::Path;

const PROPS1: &str = "timestamp,itemid,property,value
1000,100,categoryid,1016
5000,100,categoryid,809
0,100,790,n100.000
4000,100,790,n250.500
2000,100,888,\"a b n1.0\"
";
const PROPS2: &str = "timestamp,itemid,property,value
0,100,available,1
6000,100,available,0
10000,200,790,n5.000
3000,100,917,828513
";
const TREE: &str = "categoryid,parentid
1016,213
809,169
231,
";
const EVENTS: &str = "timestamp,visitorid,event,itemid,transactionid
500,1,view,100,
1000,1,addtocart,100,
4500,2,view,100,
6000,2,transaction,100,4000
7000,3,view,200,
";

fn fixture(dir: &Path, events: &str) {
    std::fs::write(dir.join("item_properties_part1.csv"), PROPS1).unwrap();
    std::fs::write(dir.join("item_properties_part2.csv"), PROPS2).unwrap();
    std::fs::write(dir.join("category_tree.csv"), TREE).unwrap();
    std::fs::write(dir.join("events.csv"), events).unwrap();
}

fn strs(df: &DataFrame, c: &str) -> Vec<Option<String>> {
    let s = df.column(c).unwrap().cast(&DataType::String).unwrap();
    s.str().unwrap().iter().map(|v| v.map(str::to_string)).collect()
}

#[test]
fn each_event_takes_the_latest_property_values_at_or_before_it() {
    let d = tempfile::tempdir().unwrap();
    fixture(d.path(), EVENTS);
    let (df, s) = ingest(&IngestConfig { input_dir: d.path().into(), skip_bad_lines: false }).unwrap();
    assert_eq!(s.events, 5);
    // ms → seconds.
    let ts: Vec<i64> = df.column("timestamp").unwrap().i64().unwrap().into_no_null_iter().collect();
    assert_eq!(ts, [0, 1, 4, 6, 7]);
    // categoryid: 1016 from t=1000 (inclusive), 809 from t=5000; none before 1000; item 200 none.
    let some = |v: &str| Some(v.to_string());
    assert_eq!(strs(&df, "categoryid"), [None, some("1016"), some("1016"), some("809"), None]);
    assert_eq!(strs(&df, "parentid"), [None, some("213"), some("213"), some("169"), None]);
    // price: n100.000 from 0, n250.500 from 4000; item 200's price is set only at 10000.
    let price: Vec<Option<f64>> = df.column("price").unwrap().f64().unwrap().iter().collect();
    assert_eq!(price, [Some(100.0), Some(100.0), Some(250.5), Some(250.5), None]);
    // available: "1" from 0, "0" from 6000 (inclusive).
    let avail: Vec<Option<bool>> = df.column("available").unwrap().bool().unwrap().iter().collect();
    assert_eq!(avail, [Some(true), Some(true), Some(true), Some(false), None]);
    // 888 (quoted in the file) from 2000.
    assert_eq!(strs(&df, "888"), [None, None, some("a b n1.0"), some("a b n1.0"), None]);
    let tx: Vec<Option<f64>> = df.column("transactionid").unwrap().f64().unwrap().iter().collect();
    assert_eq!(tx, [None, None, None, Some(4000.0), None]);
    assert!(df.column("event").unwrap().dtype().is_categorical());
    assert_eq!(s.events_without_category, 2);
}

#[test]
fn bad_input_is_reported_with_line_numbers_or_skipped_with_a_count() {
    let d = tempfile::tempdir().unwrap();
    let cfg = |skip| IngestConfig { input_dir: d.path().into(), skip_bad_lines: skip };
    fixture(d.path(), "timestamp,visitor_id,event,itemid,transactionid\n1,1,view,100,\n");
    let e = ingest(&cfg(false)).unwrap_err().to_string();
    assert!(e.contains("events.csv") && e.contains("missing column(s) visitorid"), "{e}");

    let broken = "timestamp,visitorid,event,itemid,transactionid\n500,1,view,100,\n600,2,view\n700,,view,100,\n800,x,view,100,\n900,4,click,100,\n1000,5,view,100,\n";
    fixture(d.path(), broken);
    let e = ingest(&cfg(false)).unwrap_err().to_string();
    assert!(e.contains("events.csv line 3") && e.contains("malformed"), "{e}");
    let (df, s) = ingest(&cfg(true)).unwrap();
    assert_eq!(
        (s.events, s.skipped_lines),
        (2, 4),
        "lines 3-6 skipped: short line, empty id, non-numeric id, unknown event"
    );
    assert_eq!(df.height(), 2);

    fixture(d.path(), "timestamp,visitorid,event,itemid,transactionid\n");
    assert!(ingest(&cfg(false)).unwrap_err().to_string().contains("no events"));
    std::fs::remove_file(d.path().join("category_tree.csv")).unwrap();
    let e = ingest(&cfg(false)).unwrap_err().to_string();
    assert!(e.contains("category_tree.csv"), "{e}");
}
