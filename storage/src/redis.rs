//! Redis as datastore, work queue and per-request task channel (distributed modes).
//!
//! Key layout (prefix `FROCKET_DATASTORE_REDIS_PREFIX`, default `frocket:`):
//!
//! | key | type | content |
//! |---|---|---|
//! | `{p}datasets` | hash | name → `DatasetRecord` JSON (info, parts, schema) |
//! | `{p}dataset_lastused` | hash | name → unix seconds |
//! | `{p}queues:{queue}` | list | task envelopes, LPUSH by invokers, BRPOP by workers (FIFO) |
//! | `{p}req-{id}:status` | hash | `"{task}:{attempt}"` → `AttemptReport` JSON `{"status", "time", "worker"}` (heartbeats refresh `time`) |
//! | `{p}req-{id}:results` | list | result envelopes, RPUSH by workers, BLPOP by the invoker |
//! | `{p}req-{id}:partlist` | string | the request's parts (JSON list of `DatasetPartId`), for self-selection |
//! | `{p}req-{id}:parts` | set | part indexes not yet taken by a self-selecting worker |
//!
//! Every `req-*` key gets a TTL when written and is deleted when the job ends, so nothing leaks
//! even when an invoker dies mid-job. Workers write to a request only while it lives: their
//! statuses and results go through Lua scripts that write nothing when the request's status
//! hash is gone (the invoker creates it with the first `QUEUED` status, before dispatching, and
//! deletes it at the end). So a worker cut off mid-job that reports after the job ended — or a
//! late duplicate of a lost attempt — cannot bring the request's keys back. Blocking pops use
//! dedicated connections (a blocking command would stall the shared multiplexed connection).

use crate::{Datastore, StorageError};
use async_trait::async_trait;
use protocol::dataset::{DatasetInfo, DatasetRecord};
use protocol::task::AttemptReport;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, MultiplexedConnection};
use std::collections::HashMap;
use std::time::Duration;

/// KEYS: status hash. ARGV: field, status JSON, TTL. Writes only if the hash exists.
static REPORT_STATUS: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return 1",
    )
});

/// KEYS: status hash, results list. ARGV: field, status JSON, envelope, TTL. Writes only if
/// the status hash exists.
static PUSH_RESULT: std::sync::LazyLock<redis::Script> = std::sync::LazyLock::new(|| {
    redis::Script::new(
        r"if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[3])
redis.call('EXPIRE', KEYS[2], ARGV[4])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1",
    )
});

#[derive(Debug, Clone, PartialEq)]
pub struct RedisConfig {
    /// `redis://[:password@]host:port/db` or `rediss://` for TLS.
    pub url: String,
    pub prefix: String,
    /// TTL of request keys.
    pub request_ttl: Duration,
}

#[derive(Clone)]
pub struct RedisStore {
    client: redis::Client,
    con: ConnectionManager,
    prefix: String,
    ttl_seconds: i64,
    url_for_display: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RedisStore({})", self.url_for_display)
    }
}

fn err(e: redis::RedisError, what: &str) -> StorageError {
    if e.is_connection_refusal() || e.is_connection_dropped() || e.is_timeout() || e.is_io_error() {
        StorageError::Transient(format!("redis {what}: {e}"))
    } else {
        StorageError::Other(format!("redis {what}: {e}"))
    }
}

/// The URL without its password, for messages and `frocket config`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

/// How a Redis datastore describes itself (`frocket config`, without connecting); never shows a
/// password.
pub fn describe(url: &str, prefix: &str) -> String {
    format!("redis ({}, prefix '{prefix}')", redact(url))
}

/// A connection for blocking pops (BRPOP/BLPOP), with no response timeout of its own.
pub struct BlockingConnection {
    con: MultiplexedConnection,
}

impl BlockingConnection {
    async fn pop(&mut self, key: &str, timeout: Duration, right: bool) -> Result<Option<String>, StorageError> {
        let secs = timeout.as_secs_f64().max(0.01);
        let r: Option<[String; 2]> = if right {
            self.con.brpop(key, secs).await.map_err(|e| err(e, "BRPOP"))?
        } else {
            self.con.blpop(key, secs).await.map_err(|e| err(e, "BLPOP"))?
        };
        Ok(r.map(|[_, v]| v))
    }
}

impl RedisStore {
    /// Connects and pings (fail fast on a wrong URL or an unreachable server).
    pub async fn connect(cfg: &RedisConfig) -> Result<RedisStore, StorageError> {
        let shown = redact(&cfg.url);
        let client = redis::Client::open(cfg.url.as_str())
            .map_err(|e| StorageError::InvalidPath(format!("Redis URL {shown}: {e}")))?;
        let mcfg = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(Some(Duration::from_secs(10)))
            .set_number_of_retries(2);
        let mut con = tokio::time::timeout(Duration::from_secs(10), client.get_connection_manager_with_config(mcfg))
            .await
            .map_err(|_| StorageError::Transient(format!("connect to Redis at {shown}: timed out")))?
            .map_err(|e| err(e, &format!("connect to {shown}")))?;
        let _: String = redis::cmd("PING").query_async(&mut con).await.map_err(|e| err(e, &format!("PING {shown}")))?;
        Ok(RedisStore {
            client,
            con,
            prefix: cfg.prefix.clone(),
            ttl_seconds: cfg.request_ttl.as_secs().max(1) as i64,
            url_for_display: shown,
        })
    }

    pub fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }
    fn queue_key(&self, queue: &str) -> String {
        self.key(&format!("queues:{queue}"))
    }
    fn status_key(&self, request_id: &str) -> String {
        self.key(&format!("req-{request_id}:status"))
    }
    fn results_key(&self, request_id: &str) -> String {
        self.key(&format!("req-{request_id}:results"))
    }

    /// A dedicated connection for blocking pops.
    pub async fn blocking_connection(&self) -> Result<BlockingConnection, StorageError> {
        let cfg = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_response_timeout(None);
        let con = self
            .client
            .get_multiplexed_async_connection_with_config(&cfg)
            .await
            .map_err(|e| err(e, "open a blocking connection"))?;
        Ok(BlockingConnection { con })
    }

    pub async fn push_task(&self, queue: &str, envelope: &str) -> Result<(), StorageError> {
        let mut con = self.con.clone();
        con.lpush::<_, _, ()>(self.queue_key(queue), envelope).await.map_err(|e| err(e, "LPUSH task"))
    }

    /// Pops the oldest task of `queue`, waiting up to `timeout`.
    pub async fn pop_task(
        &self,
        con: &mut BlockingConnection,
        queue: &str,
        timeout: Duration,
    ) -> Result<Option<String>, StorageError> {
        con.pop(&self.queue_key(queue), timeout, true).await
    }

    pub async fn queue_len(&self, queue: &str) -> Result<usize, StorageError> {
        let mut con = self.con.clone();
        con.llen(self.queue_key(queue)).await.map_err(|e| err(e, "LLEN"))
    }

    pub async fn set_status(
        &self,
        request_id: &str,
        task: usize,
        attempt: u32,
        status: &AttemptReport,
    ) -> Result<(), StorageError> {
        let key = self.status_key(request_id);
        let value = serde_json::to_string(status).map_err(|e| StorageError::Other(e.to_string()))?;
        let mut con = self.con.clone();
        redis::pipe()
            .hset(&key, format!("{task}:{attempt}"), value)
            .ignore()
            .expire(&key, self.ttl_seconds)
            .ignore()
            .query_async::<()>(&mut con)
            .await
            .map_err(|e| err(e, "HSET status"))
    }

    /// A worker's status report (heartbeat): written only while the request lives (see the
    /// module docs); false when the request has ended and nothing was written.
    pub async fn report_status(
        &self,
        request_id: &str,
        task: usize,
        attempt: u32,
        status: &AttemptReport,
    ) -> Result<bool, StorageError> {
        let value = serde_json::to_string(status).map_err(|e| StorageError::Other(e.to_string()))?;
        let mut con = self.con.clone();
        let written: i64 = REPORT_STATUS
            .key(self.status_key(request_id))
            .arg(format!("{task}:{attempt}"))
            .arg(value)
            .arg(self.ttl_seconds)
            .invoke_async(&mut con)
            .await
            .map_err(|e| err(e, "report status"))?;
        Ok(written == 1)
    }

    /// Status of every attempt of a request: (task, attempt) → status.
    pub async fn statuses(&self, request_id: &str) -> Result<HashMap<(usize, u32), AttemptReport>, StorageError> {
        let mut con = self.con.clone();
        let raw: HashMap<String, String> =
            con.hgetall(self.status_key(request_id)).await.map_err(|e| err(e, "HGETALL status"))?;
        Ok(raw
            .into_iter()
            .filter_map(|(k, v)| {
                let (t, a) = k.split_once(':')?;
                Some(((t.parse().ok()?, a.parse().ok()?), serde_json::from_str(&v).ok()?))
            })
            .collect())
    }

    /// The status of one attempt.
    pub async fn statuses_of(
        &self,
        request_id: &str,
        task: usize,
        attempt: u32,
    ) -> Result<Option<AttemptReport>, StorageError> {
        let mut con = self.con.clone();
        let raw: Option<String> = con
            .hget(self.status_key(request_id), format!("{task}:{attempt}"))
            .await
            .map_err(|e| err(e, "HGET status"))?;
        Ok(raw.and_then(|v| serde_json::from_str(&v).ok()))
    }

    fn parts_key(&self, request_id: &str) -> String {
        self.key(&format!("req-{request_id}:parts"))
    }
    fn part_list_key(&self, request_id: &str) -> String {
        self.key(&format!("req-{request_id}:partlist"))
    }

    /// Publishes a request's parts for worker self-selection: the list (JSON) and the set of
    /// indexes still to be taken.
    pub async fn publish_parts(&self, request_id: &str, part_list_json: &str, n: usize) -> Result<(), StorageError> {
        let (lk, sk) = (self.part_list_key(request_id), self.parts_key(request_id));
        let mut con = self.con.clone();
        let mut pipe = redis::pipe();
        pipe.atomic().set_ex(&lk, part_list_json, self.ttl_seconds as u64).ignore();
        if n > 0 {
            pipe.sadd(&sk, (0..n).collect::<Vec<usize>>()).ignore().expire(&sk, self.ttl_seconds).ignore();
        }
        pipe.query_async::<()>(&mut con).await.map_err(|e| err(e, "publish parts"))
    }

    pub async fn part_list(&self, request_id: &str) -> Result<Option<String>, StorageError> {
        let mut con = self.con.clone();
        con.get(self.part_list_key(request_id)).await.map_err(|e| err(e, "GET part list"))
    }

    /// Takes a specific part index; false if another worker took it first.
    pub async fn take_part(&self, request_id: &str, idx: usize) -> Result<bool, StorageError> {
        let mut con = self.con.clone();
        let n: i64 = con.srem(self.parts_key(request_id), idx).await.map_err(|e| err(e, "SREM part"))?;
        Ok(n > 0)
    }

    /// Takes any remaining part index.
    pub async fn take_any_part(&self, request_id: &str) -> Result<Option<usize>, StorageError> {
        let mut con = self.con.clone();
        con.spop(self.parts_key(request_id)).await.map_err(|e| err(e, "SPOP part"))
    }

    /// Publishes a result envelope and the attempt's final status together, atomically and
    /// only while the request lives; false when it has ended and nothing was written.
    pub async fn push_result(
        &self,
        request_id: &str,
        task: usize,
        attempt: u32,
        status: &AttemptReport,
        envelope: &str,
    ) -> Result<bool, StorageError> {
        let value = serde_json::to_string(status).map_err(|e| StorageError::Other(e.to_string()))?;
        let mut con = self.con.clone();
        let written: i64 = PUSH_RESULT
            .key(self.status_key(request_id))
            .key(self.results_key(request_id))
            .arg(format!("{task}:{attempt}"))
            .arg(value)
            .arg(envelope)
            .arg(self.ttl_seconds)
            .invoke_async(&mut con)
            .await
            .map_err(|e| err(e, "RPUSH result"))?;
        Ok(written == 1)
    }

    /// Pops the next result of a request, waiting up to `timeout`.
    pub async fn pop_result(
        &self,
        con: &mut BlockingConnection,
        request_id: &str,
        timeout: Duration,
    ) -> Result<Option<String>, StorageError> {
        con.pop(&self.results_key(request_id), timeout, false).await
    }

    /// Removes every key of a request.
    pub async fn delete_request(&self, request_id: &str) -> Result<(), StorageError> {
        let mut con = self.con.clone();
        let keys = [
            self.status_key(request_id),
            self.results_key(request_id),
            self.parts_key(request_id),
            self.part_list_key(request_id),
        ];
        con.del::<_, ()>(&keys).await.map_err(|e| err(e, "DEL request"))
    }

    /// Keys under the prefix matching `pattern` (tests and diagnostics; uses SCAN).
    pub async fn keys(&self, pattern: &str) -> Result<Vec<String>, StorageError> {
        let mut con = self.con.clone();
        let mut it: redis::AsyncIter<'_, String> =
            con.scan_match(self.key(pattern)).await.map_err(|e| err(e, "SCAN"))?;
        let mut out = Vec::new();
        while let Some(k) = futures_next(&mut it).await {
            out.push(k.map_err(|e| err(e, "SCAN"))?);
        }
        Ok(out)
    }
}

async fn futures_next(it: &mut redis::AsyncIter<'_, String>) -> Option<redis::RedisResult<String>> {
    it.next_item().await
}

#[async_trait]
impl Datastore for RedisStore {
    async fn write_dataset(&self, record: &DatasetRecord) -> Result<(), StorageError> {
        let v = serde_json::to_string(record).map_err(|e| StorageError::Other(e.to_string()))?;
        let name = &record.info.id.name;
        let mut con = self.con.clone();
        redis::pipe()
            .atomic()
            .hset(self.key("datasets"), name, v)
            .ignore()
            .hdel(self.key("dataset_lastused"), name)
            .ignore()
            .query_async::<()>(&mut con)
            .await
            .map_err(|e| err(e, "write dataset"))
    }

    async fn dataset(&self, name: &str) -> Result<Option<DatasetRecord>, StorageError> {
        let mut con = self.con.clone();
        let v: Option<String> = con.hget(self.key("datasets"), name).await.map_err(|e| err(e, "read dataset"))?;
        v.map(|s| {
            serde_json::from_str(&s)
                .map_err(|e| StorageError::Other(format!("corrupt dataset record '{name}' in Redis: {e}")))
        })
        .transpose()
    }

    async fn datasets(&self) -> Result<Vec<DatasetInfo>, StorageError> {
        let mut con = self.con.clone();
        let all: HashMap<String, String> =
            con.hgetall(self.key("datasets")).await.map_err(|e| err(e, "list datasets"))?;
        let mut out = Vec::new();
        for (name, v) in all {
            let r: DatasetRecord = serde_json::from_str(&v)
                .map_err(|e| StorageError::Other(format!("corrupt dataset record '{name}' in Redis: {e}")))?;
            out.push(r.info);
        }
        out.sort_by(|a, b| b.id.registered_at.cmp(&a.id.registered_at).then(a.id.name.cmp(&b.id.name)));
        Ok(out)
    }

    async fn remove_dataset(&self, name: &str) -> Result<bool, StorageError> {
        let mut con = self.con.clone();
        let (n, _): (i64, i64) = redis::pipe()
            .atomic()
            .hdel(self.key("datasets"), name)
            .hdel(self.key("dataset_lastused"), name)
            .query_async(&mut con)
            .await
            .map_err(|e| err(e, "remove dataset"))?;
        Ok(n > 0)
    }

    async fn set_last_used(&self, name: &str, unix_seconds: u64) -> Result<(), StorageError> {
        let mut con = self.con.clone();
        con.hset::<_, _, _, ()>(self.key("dataset_lastused"), name, unix_seconds)
            .await
            .map_err(|e| err(e, "mark dataset used"))
    }

    async fn last_used(&self, name: &str) -> Result<Option<u64>, StorageError> {
        let mut con = self.con.clone();
        con.hget(self.key("dataset_lastused"), name).await.map_err(|e| err(e, "read last used"))
    }

    fn describe(&self) -> String {
        describe(&self.url_for_display, &self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_show() {
        assert_eq!(redact("redis://:s3cret@host:6379/0"), "redis://***@host:6379/0");
        assert_eq!(redact("rediss://user:pw@h:1"), "rediss://***@h:1");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }
}
