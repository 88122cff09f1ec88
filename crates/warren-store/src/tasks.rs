//! The `tasks` table: every task an agent ran, newest last, with its prompt,
//! timings, output, error, usage and the tool's raw output. The JSON columns
//! (`usage`, `error_details`, `argv`) are shaped by `warren-agent`.

use rusqlite::{OptionalExtension, params};

use warren_core::TaskState;

use crate::{Result, Store, StoreError};

/// One stored task.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskRecord {
    pub id: String,
    pub agent: String,
    pub tool: String,
    pub state: TaskState,
    pub prompt: String,
    pub model: Option<String>,
    pub session_id: Option<String>,
    /// The task this one continues.
    pub parent_id: Option<String>,
    /// Directory the tool ran in (host runtime).
    pub workdir: Option<String>,
    pub timeout_seconds: Option<i64>,
    /// The server process that ran it (a dead owner of a `running` row means
    /// the server was killed mid-task).
    pub owner_pid: Option<u32>,
    pub created_at_ms: i64,
    pub started_at_ms: Option<i64>,
    pub completed_at_ms: Option<i64>,
    pub exit_code: Option<i32>,
    pub output: String,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub error_details: Option<String>,
    pub usage: Option<String>,
    pub cost_usd: Option<f64>,
    pub num_turns: Option<i64>,
    pub attempts: i64,
    pub argv: String,
    pub raw_stdout: String,
    pub raw_stderr: String,
    pub session_ended: bool,
}

/// What is known when a task ends.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskFinish {
    pub state: TaskState,
    pub session_id: Option<String>,
    pub completed_at_ms: i64,
    pub exit_code: Option<i32>,
    pub output: String,
    pub error_type: Option<String>,
    pub error_message: Option<String>,
    pub error_details: Option<String>,
    pub usage: Option<String>,
    pub cost_usd: Option<f64>,
    pub num_turns: Option<i64>,
    pub attempts: i64,
    pub argv: String,
    pub raw_stdout: String,
    pub raw_stderr: String,
}

const COLUMNS: &str = "id, agent, tool, state, prompt, model, session_id, parent_id, workdir, \
    timeout_seconds, owner_pid, created_at_ms, started_at_ms, completed_at_ms, exit_code, output, \
    error_type, error_message, error_details, usage, cost_usd, num_turns, attempts, argv, \
    raw_stdout, raw_stderr, session_ended";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TaskRecord> {
    Ok(TaskRecord {
        id: r.get(0)?,
        agent: r.get(1)?,
        tool: r.get(2)?,
        state: r
            .get::<_, String>(3)?
            .parse()
            .map_err(|e: warren_core::types::UnknownState| {
                rusqlite::Error::FromSqlConversionFailure(
                    3,
                    rusqlite::types::Type::Text,
                    Box::new(e),
                )
            })?,
        prompt: r.get(4)?,
        model: r.get(5)?,
        session_id: r.get(6)?,
        parent_id: r.get(7)?,
        workdir: r.get(8)?,
        timeout_seconds: r.get(9)?,
        owner_pid: r.get::<_, Option<i64>>(10)?.map(|p| p as u32),
        created_at_ms: r.get(11)?,
        started_at_ms: r.get(12)?,
        completed_at_ms: r.get(13)?,
        exit_code: r.get(14)?,
        output: r.get(15)?,
        error_type: r.get(16)?,
        error_message: r.get(17)?,
        error_details: r.get(18)?,
        usage: r.get(19)?,
        cost_usd: r.get(20)?,
        num_turns: r.get(21)?,
        attempts: r.get(22)?,
        argv: r.get(23)?,
        raw_stdout: r.get(24)?,
        raw_stderr: r.get(25)?,
        session_ended: r.get::<_, i64>(26)? != 0,
    })
}

impl Store {
    /// Stores a new task (normally in state `running`) and drops that agent's
    /// finished tasks beyond the newest `keep`.
    pub fn insert_task(&self, t: &TaskRecord, keep: usize) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                &format!(
                    "INSERT INTO tasks ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,
                     ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27)"
                ),
                params![
                    t.id,
                    t.agent,
                    t.tool,
                    t.state.as_str(),
                    t.prompt,
                    t.model,
                    t.session_id,
                    t.parent_id,
                    t.workdir,
                    t.timeout_seconds,
                    t.owner_pid.map(|p| p as i64),
                    t.created_at_ms,
                    t.started_at_ms,
                    t.completed_at_ms,
                    t.exit_code,
                    t.output,
                    t.error_type,
                    t.error_message,
                    t.error_details,
                    t.usage,
                    t.cost_usd,
                    t.num_turns,
                    t.attempts,
                    t.argv,
                    t.raw_stdout,
                    t.raw_stderr,
                    t.session_ended as i64
                ],
            )?;
            conn.execute(
                "DELETE FROM tasks WHERE agent = ?1 AND state != 'running' AND seq NOT IN
                   (SELECT seq FROM tasks WHERE agent = ?1 ORDER BY seq DESC LIMIT ?2)",
                params![t.agent, keep as i64],
            )?;
            Ok::<_, StoreError>(())
        })
    }

    /// Saves what a running task printed so far (so a crash keeps it).
    pub fn update_task_progress(
        &self,
        id: &str,
        session_id: Option<&str>,
        output: &str,
        raw_stdout: &str,
        raw_stderr: &str,
    ) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "UPDATE tasks SET session_id = COALESCE(?2, session_id), output = ?3,
                   raw_stdout = ?4, raw_stderr = ?5 WHERE id = ?1 AND state = 'running'",
                params![id, session_id, output, raw_stdout, raw_stderr],
            )?;
            Ok::<_, StoreError>(())
        })
    }

    /// Records the end of a task.
    pub fn finish_task(&self, id: &str, f: &TaskFinish) -> Result<()> {
        self.write(|conn| {
            conn.execute(
                "UPDATE tasks SET state = ?2, session_id = COALESCE(?3, session_id),
                   completed_at_ms = ?4, exit_code = ?5, output = ?6, error_type = ?7,
                   error_message = ?8, error_details = ?9, usage = ?10, cost_usd = ?11,
                   num_turns = ?12, attempts = ?13, argv = ?14, raw_stdout = ?15, raw_stderr = ?16
                 WHERE id = ?1",
                params![
                    id,
                    f.state.as_str(),
                    f.session_id,
                    f.completed_at_ms,
                    f.exit_code,
                    f.output,
                    f.error_type,
                    f.error_message,
                    f.error_details,
                    f.usage,
                    f.cost_usd,
                    f.num_turns,
                    f.attempts,
                    f.argv,
                    f.raw_stdout,
                    f.raw_stderr
                ],
            )?;
            Ok::<_, StoreError>(())
        })
    }

    /// One task by id.
    pub fn task(&self, id: &str) -> Result<Option<TaskRecord>> {
        Ok(self
            .conn()
            .query_row(
                &format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"),
                [id],
                from_row,
            )
            .optional()?)
    }

    /// A page of an agent's tasks, newest first, and the agent's total count.
    pub fn tasks_page(
        &self,
        agent: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<TaskRecord>, usize)> {
        let total: i64 = self.conn().query_row(
            "SELECT COUNT(*) FROM tasks WHERE agent = ?1",
            [agent],
            |r| r.get(0),
        )?;
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE agent = ?1 ORDER BY seq DESC LIMIT ?2 OFFSET ?3"
        ))?;
        let rows = stmt.query_map(params![agent, limit as i64, offset as i64], from_row)?;
        Ok((rows.collect::<rusqlite::Result<_>>()?, total as usize))
    }

    /// The newest `limit` tasks, of `agent` or of every agent, newest first
    /// (`warren task ls`).
    pub fn recent_tasks(&self, agent: Option<&str>, limit: usize) -> Result<Vec<TaskRecord>> {
        let mut stmt = self.conn().prepare_cached(&format!(
            "SELECT {COLUMNS} FROM tasks WHERE ?1 IS NULL OR agent = ?1 ORDER BY seq DESC LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![agent, limit as i64], from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Ids of stored tasks starting with `prefix` (at most `limit`), so a
    /// shortened id can name a task.
    pub fn task_ids_with_prefix(&self, prefix: &str, limit: usize) -> Result<Vec<String>> {
        let mut stmt = self.conn().prepare_cached(
            "SELECT id FROM tasks WHERE substr(id, 1, length(?1)) = ?1 ORDER BY seq DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![prefix, limit as i64], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The newest task of `agent` in tool session `session_id`.
    pub fn latest_task_in_session(
        &self,
        agent: &str,
        session_id: &str,
    ) -> Result<Option<TaskRecord>> {
        Ok(self
            .conn()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM tasks WHERE agent = ?1 AND session_id = ?2
                     ORDER BY seq DESC LIMIT 1"
                ),
                params![agent, session_id],
                from_row,
            )
            .optional()?)
    }

    /// Marks every task of a tool session as ended (no more continues).
    pub fn end_session(&self, agent: &str, session_id: &str) -> Result<usize> {
        self.write(|conn| {
            Ok(conn.execute(
                "UPDATE tasks SET session_ended = 1 WHERE agent = ?1 AND session_id = ?2",
                params![agent, session_id],
            )?)
        })
    }

    /// Turns `agent`'s `running` tasks whose owner is not `alive` into
    /// failures of type `interrupted`; returns their ids.
    pub fn interrupt_orphaned_tasks(
        &self,
        agent: &str,
        alive: impl Fn(u32) -> bool,
        now_ms: i64,
        message: &str,
    ) -> Result<Vec<String>> {
        self.write(|conn| {
            let mut stmt = conn.prepare(
                "SELECT id, owner_pid FROM tasks WHERE agent = ?1 AND state = 'running'",
            )?;
            let rows: Vec<(String, Option<i64>)> = stmt
                .query_map([agent], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut ids = Vec::new();
            for (id, pid) in rows {
                if pid.is_some_and(|p| alive(p as u32)) {
                    continue;
                }
                conn.execute(
                    "UPDATE tasks SET state = 'failed', error_type = 'interrupted',
                       error_message = ?2, completed_at_ms = ?3 WHERE id = ?1",
                    params![id, message, now_ms],
                )?;
                ids.push(id);
            }
            Ok::<_, StoreError>(ids)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str, agent: &str, st: TaskState) -> TaskRecord {
        TaskRecord {
            id: id.into(),
            agent: agent.into(),
            tool: "claude".into(),
            state: st,
            prompt: "hi".into(),
            owner_pid: Some(1),
            created_at_ms: 1,
            argv: "[]".into(),
            ..Default::default()
        }
    }

    #[test]
    fn insert_page_prune_finish() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        for i in 0..7 {
            store
                .insert_task(&task(&format!("t{i}"), "a", TaskState::Completed), 5)
                .unwrap();
        }
        store
            .insert_task(&task("b0", "b", TaskState::Running), 5)
            .unwrap();
        let (page, total) = store.tasks_page("a", 0, 3).unwrap();
        assert_eq!(total, 5, "only the newest 5 are kept");
        let ids: Vec<_> = page.iter().map(|t| t.id.as_str()).collect();
        assert_eq!(ids, ["t6", "t5", "t4"]);
        let (page, _) = store.tasks_page("a", 3, 3).unwrap();
        assert_eq!(page.len(), 2);
        store
            .finish_task(
                "b0",
                &TaskFinish {
                    state: TaskState::Failed,
                    session_id: Some("s1".into()),
                    error_type: Some("tool_error".into()),
                    attempts: 1,
                    argv: "[]".into(),
                    ..Default::default()
                },
            )
            .unwrap();
        let b = store.task("b0").unwrap().unwrap();
        assert_eq!(b.state, TaskState::Failed);
        assert_eq!(b.session_id.as_deref(), Some("s1"));
        assert_eq!(
            store.latest_task_in_session("b", "s1").unwrap().unwrap().id,
            "b0"
        );
        assert_eq!(store.end_session("b", "s1").unwrap(), 1);
        assert!(store.task("b0").unwrap().unwrap().session_ended);
    }

    #[test]
    fn orphans_become_interrupted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut live = task("live", "a", TaskState::Running);
        live.owner_pid = Some(42);
        store.insert_task(&live, 100).unwrap();
        store
            .insert_task(&task("dead", "a", TaskState::Running), 100)
            .unwrap();
        let ids = store
            .interrupt_orphaned_tasks("a", |pid| pid == 42, 5, "server died")
            .unwrap();
        assert_eq!(ids, ["dead"]);
        let dead = store.task("dead").unwrap().unwrap();
        assert_eq!(
            (dead.state, dead.error_type.as_deref()),
            (TaskState::Failed, Some("interrupted"))
        );
        assert_eq!(
            store.task("live").unwrap().unwrap().state,
            TaskState::Running
        );
    }
}
