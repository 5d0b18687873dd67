//! Embedded mode: tasks run in this process on the worker's code, as many at once as
//! configured (default: the number of cores). Same task protocol as the distributed modes.

use async_trait::async_trait;
use invoker::TaskExecutor;
use protocol::task::{QueryTaskRequest, QueryTaskResult, RegistrationTaskRequest, RegistrationTaskResult};
use std::sync::Arc;
use worker::Worker;

pub struct EmbeddedExecutor {
    pub worker: Arc<Worker>,
    pub concurrency: usize,
}

#[async_trait]
impl TaskExecutor for EmbeddedExecutor {
    async fn run_query(&self, req: QueryTaskRequest) -> QueryTaskResult {
        self.worker.run_query(&req).await
    }
    async fn run_registration(&self, req: RegistrationTaskRequest) -> RegistrationTaskResult {
        self.worker.run_registration(&req).await
    }
    fn concurrency(&self) -> usize {
        self.concurrency
    }
    fn describe(&self) -> String {
        format!("embedded ({} concurrent tasks)", self.concurrency)
    }
}
