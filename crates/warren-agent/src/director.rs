//! The CLI director behind `warren task`: find the agent, submit the
//! prompt, follow its progress over SSE, fetch the result.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use warren_store::{AgentRecord, Store};

use crate::error::AgentError;
use crate::history::TaskView;
use crate::server::security::{read_token, token_path};
use warren_core::process::pid_alive;

/// Where to reach an agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentTarget {
    /// Its name, when found through the registry.
    pub name: Option<String>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

/// Registered agents whose server process is alive.
pub fn live_agents(root: &Path) -> Result<Vec<AgentRecord>, AgentError> {
    let store = Store::open(root)?;
    Ok(store
        .agents()?
        .into_iter()
        .filter(|a| pid_alive(a.pid))
        .collect())
}

/// Resolves `--agent` (a URL, an agent or environment name) or, without
/// it, the only running agent.
pub fn find_agent(root: &Path, agent: Option<&str>) -> Result<AgentTarget, AgentError> {
    if let Some(a) = agent
        && (a.starts_with("http://") || a.starts_with("https://"))
    {
        return Ok(AgentTarget {
            name: None,
            url: a.trim_end_matches('/').to_string(),
        });
    }
    let live = live_agents(root)?;
    let pick = |r: &AgentRecord| AgentTarget {
        name: Some(r.name.clone()),
        url: r.url.clone(),
    };
    match agent {
        Some(name) => live
            .iter()
            .find(|r| r.name == name)
            .or_else(|| live.iter().find(|r| r.env.as_deref() == Some(name)))
            .map(pick)
            .ok_or_else(|| AgentError::UnknownAgent {
                name: name.to_string(),
                known: live.iter().map(|r| r.name.clone()).collect(),
            }),
        None => match live.as_slice() {
            [] => Err(AgentError::NoAgent),
            [one] => Ok(pick(one)),
            many => Err(AgentError::AmbiguousAgent {
                names: many.iter().map(|r| r.name.clone()).collect(),
            }),
        },
    }
}

/// An authenticated client of one agent.
#[derive(Debug, Clone)]
pub struct Client {
    pub url: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// A client using the token under `root`.
    pub fn new(root: &Path, url: &str) -> Result<Client, AgentError> {
        let path = token_path(root);
        let token = read_token(&path)?.ok_or_else(|| AgentError::Token {
            path: path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no token yet: no agent server has run with this warren root",
            ),
        })?;
        Ok(Client::with_token(url, &token))
    }

    /// A client with an explicit token.
    pub fn with_token(url: &str, token: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(5)))
            .build()
            .into();
        Client {
            url: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            agent,
        }
    }

    fn unreachable(&self, e: impl std::fmt::Display) -> AgentError {
        AgentError::Unreachable {
            url: self.url.clone(),
            message: e.to_string(),
        }
    }

    fn answer(&self, mut resp: ureq::http::Response<ureq::Body>) -> Result<Value, AgentError> {
        let status = resp.status().as_u16();
        let body: Value = resp
            .body_mut()
            .read_json()
            .map_err(|e| AgentError::BadResponse {
                url: self.url.clone(),
                message: e.to_string(),
            })?;
        if status >= 400 {
            return Err(AgentError::Api {
                status,
                code: body["error"].as_str().unwrap_or("error").to_string(),
                message: body["message"].as_str().unwrap_or("").to_string(),
                details: body["details"].clone(),
            });
        }
        Ok(body)
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Result<Value, AgentError> {
        let resp = self
            .agent
            .get(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
            .map_err(|e| self.unreachable(e))?;
        self.answer(resp)
    }

    /// `POST path` with a JSON body.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, AgentError> {
        let resp = self
            .agent
            .post(&format!("{}{path}", self.url))
            .header("Authorization", &format!("Bearer {}", self.token))
            .send_json(body)
            .map_err(|e| self.unreachable(e))?;
        self.answer(resp)
    }

    /// Follows `GET /task/:id/events`, calling `on_event(name, data)` for
    /// each event until `done` (or the stream ends).
    pub fn follow(
        &self,
        task_id: &str,
        mut on_event: impl FnMut(&str, &Value),
    ) -> Result<(), AgentError> {
        let resp = self
            .agent
            .get(&format!("{}/task/{task_id}/events", self.url))
            .header("Authorization", &format!("Bearer {}", self.token))
            .header("Accept", "text/event-stream")
            .call()
            .map_err(|e| self.unreachable(e))?;
        if resp.status().as_u16() >= 400 {
            return self.answer(resp).map(|_| ());
        }
        let reader = BufReader::new(resp.into_body().into_reader());
        let (mut name, mut data) = (String::new(), String::new());
        for line in reader.lines() {
            let line = line.map_err(|e| self.unreachable(e))?;
            if line.is_empty() {
                if !data.is_empty() || !name.is_empty() {
                    let v: Value =
                        serde_json::from_str(&data).unwrap_or(Value::String(data.clone()));
                    let ev = if name.is_empty() {
                        "message"
                    } else {
                        name.as_str()
                    };
                    on_event(ev, &v);
                    if ev == "done" {
                        return Ok(());
                    }
                }
                name.clear();
                data.clear();
            } else if let Some(v) = line.strip_prefix("event:") {
                name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        Ok(())
    }

    /// `GET /task/:id` as a typed view.
    pub fn task(&self, id: &str) -> Result<TaskView, AgentError> {
        let v = self.get(&format!("/task/{id}"))?;
        serde_json::from_value(v).map_err(|e| AgentError::BadResponse {
            url: self.url.clone(),
            message: e.to_string(),
        })
    }
}

/// What `warren task` submits.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub prompt: String,
    pub session_id: Option<String>,
    pub model: Option<String>,
    pub timeout_seconds: Option<u64>,
}

impl Submission {
    /// The `POST /task` body.
    pub fn body(&self) -> Value {
        let mut b = json!({ "prompt": self.prompt });
        if let Some(s) = &self.session_id {
            b["session_id"] = json!(s);
        }
        if let Some(m) = &self.model {
            b["model"] = json!(m);
        }
        if let Some(t) = self.timeout_seconds {
            b["timeout_seconds"] = json!(t);
        }
        b
    }
}

/// Submits and returns `(task_id, session_id)`.
pub fn submit(client: &Client, sub: &Submission) -> Result<(String, Option<String>), AgentError> {
    let v = client.post("/task", &sub.body())?;
    let id = v["task_id"]
        .as_str()
        .ok_or_else(|| AgentError::BadResponse {
            url: client.url.clone(),
            message: "no task_id in the answer".into(),
        })?
        .to_string();
    Ok((id, v["session_id"].as_str().map(str::to_string)))
}

/// Waits for a task to end: follows its events (printing them through
/// `on_event`), then polls until the stored state is final.
pub fn wait(
    client: &Client,
    task_id: &str,
    on_event: impl FnMut(&str, &Value),
) -> Result<TaskView, AgentError> {
    client.follow(task_id, on_event)?;
    loop {
        let t = client.task(task_id)?;
        if t.state.is_final() {
            return Ok(t);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
