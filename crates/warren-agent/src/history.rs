//! The JSON shapes of tasks as the API shows them, built from stored
//! [`TaskRecord`]s (finished tasks) or from a running task's live state.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use warren_core::TaskState;
use warren_store::TaskRecord;

use crate::adapters::Usage;
use warren_core::time::rfc3339_ms;

/// A task's error as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskError {
    /// `tool_error`, `rate_limited`, `timeout`, `cancelled`, `interrupted`,
    /// `sandbox_error` or `internal_error`.
    #[serde(rename = "type")]
    pub kind: String,
    pub message: String,
    /// `retryable`, `rate_limit`, `fatal`, cause, reset time.
    #[serde(skip_serializing_if = "Value::is_null", default)]
    pub details: Value,
}

/// `GET /task/:id` and `GET /history/:id`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskView {
    pub task_id: String,
    pub agent: String,
    pub tool: String,
    pub state: TaskState,
    pub prompt: String,
    pub model: Option<String>,
    pub session_id: Option<String>,
    pub parent_task_id: Option<String>,
    pub exit_code: Option<i32>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub output: String,
    pub error: Option<TaskError>,
    pub token_usage: Option<Usage>,
    pub cost_usd: Option<f64>,
    pub num_turns: Option<i64>,
    pub attempts: i64,
    pub session_ended: bool,
}

/// One row of `GET /history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSummary {
    pub task_id: String,
    pub state: TaskState,
    pub prompt: String,
    pub session_id: Option<String>,
    pub created_at: String,
    pub completed_at: Option<String>,
    pub duration_seconds: Option<f64>,
    pub error_type: Option<String>,
    pub cost_usd: Option<f64>,
}

/// `GET /history`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryPage {
    pub tasks: Vec<TaskSummary>,
    pub page: usize,
    pub limit: usize,
    pub total: usize,
}

/// `GET /task/:id/debug`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DebugView {
    pub task_id: String,
    pub argv: Vec<String>,
    pub exit_code: Option<i32>,
    pub attempts: i64,
    pub stdout: String,
    pub stderr: String,
}

fn duration(r: &TaskRecord, now_ms: i64) -> Option<f64> {
    let start = r.started_at_ms?;
    let end = r.completed_at_ms.unwrap_or(now_ms);
    Some(((end - start).max(0)) as f64 / 1000.0)
}

impl TaskView {
    /// The view of a stored task.
    pub fn from_record(r: &TaskRecord, now_ms: i64) -> TaskView {
        TaskView {
            task_id: r.id.clone(),
            agent: r.agent.clone(),
            tool: r.tool.clone(),
            state: r.state,
            prompt: r.prompt.clone(),
            model: r.model.clone(),
            session_id: r.session_id.clone(),
            parent_task_id: r.parent_id.clone(),
            exit_code: r.exit_code,
            created_at: rfc3339_ms(r.created_at_ms),
            started_at: r.started_at_ms.map(rfc3339_ms),
            completed_at: r.completed_at_ms.map(rfc3339_ms),
            duration_seconds: duration(r, now_ms),
            output: r.output.clone(),
            error: r.error_type.as_ref().map(|t| TaskError {
                kind: t.clone(),
                message: r.error_message.clone().unwrap_or_default(),
                details: r
                    .error_details
                    .as_deref()
                    .and_then(|d| serde_json::from_str(d).ok())
                    .unwrap_or(Value::Null),
            }),
            token_usage: r
                .usage
                .as_deref()
                .and_then(|u| serde_json::from_str(u).ok()),
            cost_usd: r.cost_usd,
            num_turns: r.num_turns,
            attempts: r.attempts,
            session_ended: r.session_ended,
        }
    }
}

impl TaskSummary {
    pub fn from_record(r: &TaskRecord, now_ms: i64) -> TaskSummary {
        TaskSummary {
            task_id: r.id.clone(),
            state: r.state,
            prompt: r.prompt.clone(),
            session_id: r.session_id.clone(),
            created_at: rfc3339_ms(r.created_at_ms),
            completed_at: r.completed_at_ms.map(rfc3339_ms),
            duration_seconds: duration(r, now_ms),
            error_type: r.error_type.clone(),
            cost_usd: r.cost_usd,
        }
    }
}

impl DebugView {
    pub fn from_record(r: &TaskRecord) -> DebugView {
        DebugView {
            task_id: r.id.clone(),
            argv: serde_json::from_str(&r.argv).unwrap_or_default(),
            exit_code: r.exit_code,
            attempts: r.attempts,
            stdout: r.raw_stdout.clone(),
            stderr: r.raw_stderr.clone(),
        }
    }
}
