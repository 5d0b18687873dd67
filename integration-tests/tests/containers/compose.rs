//! The compose file (`docker-compose.yml`): up with 3 workers, a dataset uploaded to its S3
//! server, registered and queried through its API server, down with nothing left.

use crate::{AGGS, FUNNEL, embedded, synth};
use integration_tests::containers::{BUCKET, compose_file, container_test};
use integration_tests::{answer, free_port, s3_config, upload_dir};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

struct Project {
    name: String,
    env: Vec<(String, String)>,
}

impl Project {
    fn compose(&self, args: &[&str]) -> std::process::Output {
        Command::new("docker-compose")
            .arg("-f")
            .arg(compose_file())
            .args(["-p", &self.name])
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run docker-compose")
    }
}

impl Drop for Project {
    fn drop(&mut self) {
        let _ = self.compose(&["down", "-v", "--timeout", "5"]);
    }
}

fn lines(o: &std::process::Output) -> usize {
    String::from_utf8_lossy(&o.stdout).lines().filter(|l| !l.trim().is_empty()).count()
}

#[test]
fn the_compose_cluster_comes_up_scaled_answers_and_goes_down() {
    container_test(|_images| async move {
        let (api_port, s3_port) = (free_port(), free_port());
        let p = Project {
            name: format!("frocket-e2e-compose-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]),
            env: vec![
                ("FROCKET_API_PORT".into(), api_port.to_string()),
                ("FROCKET_S3_PORT".into(), s3_port.to_string()),
            ],
        };
        let t = Instant::now();
        let up = p.compose(&["up", "-d", "--scale", "worker=3"]);
        assert!(up.status.success(), "compose up: {}", String::from_utf8_lossy(&up.stderr));
        assert_eq!(lines(&p.compose(&["ps", "-q", "worker"])), 3, "three workers");
        let api = format!("http://127.0.0.1:{api_port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !http.get(format!("{api}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            assert!(Instant::now() < deadline, "the API server did not answer within 30 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        eprintln!("figure: compose up (redis, s3, 3 workers, api) answering in {:.1} s", t.elapsed().as_secs_f64());

        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("shop");
        synth(&dir, 4);
        let s3 = storage::s3::S3Store::new(&s3_config(&format!("http://127.0.0.1:{s3_port}"))).await;
        s3.client().create_bucket().bucket(BUCKET).send().await.expect("create the bucket");
        upload_dir(&s3, &dir, BUCKET, "shop").await;
        let reg = http
            .post(format!("{api}/datasets/register"))
            .json(&json!({"name": "shop", "basepath": format!("s3://{BUCKET}/shop"), "groupIdColumn": "visitorid", "timestampColumn": "timestamp"}))
            .send()
            .await
            .unwrap();
        assert_eq!(reg.status(), 200, "register: {}", reg.text().await.unwrap());
        for q in [FUNNEL, AGGS] {
            let r = http.post(format!("{api}/datasets/shop/query")).body(q.to_string()).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            assert_eq!(answer(&v), embedded(&dir, q), "query {q}");
        }
        let down = p.compose(&["down", "-v", "--timeout", "5"]);
        assert!(down.status.success(), "compose down: {}", String::from_utf8_lossy(&down.stderr));
        assert_eq!(lines(&p.compose(&["ps", "-q"])), 0, "nothing left running");
        let vols = Command::new("docker")
            .args(["volume", "ls", "-q", "--filter", &format!("name={}", p.name)])
            .output()
            .unwrap();
        assert_eq!(lines(&vols), 0, "volumes removed");
    });
}
