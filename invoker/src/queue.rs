//! The work-queue transport: attempts go onto a Redis list that any number of `frocket worker`
//! processes pop (FIFO); statuses and results come back as in every Redis transport
//! (`redis_tasks.rs`).

use crate::redis_tasks::{Dispatch, RedisExecutor};
use async_trait::async_trait;
use protocol::task::{TaskEnvelope, TaskError};
use std::time::Duration;
use storage::redis::RedisStore;

/// LPUSH onto `{prefix}queues:{queue}`.
pub struct QueueDispatch {
    redis: RedisStore,
    queue: String,
}

#[async_trait]
impl Dispatch for QueueDispatch {
    async fn send(&self, env: &TaskEnvelope, payload: &str) -> Result<(), TaskError> {
        self.redis
            .push_task(&self.queue, payload)
            .await
            .map_err(|e| TaskError { message: format!("enqueue task {}: {e}", env.ids().1), retryable: true })
    }

    fn describe(&self) -> String {
        format!("work_queue (queue '{}')", self.queue)
    }
}

/// Tasks through the Redis work queue.
pub type QueueExecutor = RedisExecutor<QueueDispatch>;

impl QueueExecutor {
    pub fn on_queue(redis: RedisStore, queue: &str, lost_after: Duration) -> QueueExecutor {
        let dispatch = QueueDispatch { redis: redis.clone(), queue: queue.to_string() };
        RedisExecutor::new(redis, dispatch, lost_after)
    }
}
