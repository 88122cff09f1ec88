//! Every screen of `tests/screens/` printed into a real tmux pane (title set
//! the way the tools set it), captured, and judged.

use std::time::{Duration, SystemTime};

use warren_state::{Observation, Rules, State, judge};

use crate::screens;
use crate::tmux::Tmux;

#[test]
fn recorded_screens_replayed_in_tmux() {
    let Some(tmux) = Tmux::start() else { return };
    let rules = Rules::builtin();
    let all = screens();
    // Start every pane first, then watch them: the replays settle in parallel.
    let launched = SystemTime::now();
    for (i, s) in all.iter().enumerate() {
        let body = tmux.dir.path().join(format!("{i}.body"));
        let title = tmux.dir.path().join(format!("{i}.title"));
        std::fs::write(&body, &s.body).unwrap();
        std::fs::write(&title, &s.title).unwrap();
        let end = match s.expect {
            State::Exited(code) => format!("exit {code}"),
            _ => "exec sleep 600".to_owned(),
        };
        // printf "$(cat …)" drops the final newline, so a full 40-line screen does not scroll.
        let script = format!(
            "sleep 0.3; printf '\\033]2;%s\\033\\\\' \"$(cat '{}')\"; printf '%s' \"$(cat '{}')\"; {end}",
            title.display(),
            body.display()
        );
        tmux.new_session(&format!("s{i}"), tmux.dir.path(), &script);
    }
    let mut failures = Vec::new();
    for (i, s) in all.iter().enumerate() {
        let (cap, changed) = tmux.watch(
            &format!("s{i}"),
            Duration::from_millis(2200),
            Duration::from_secs(15),
        );
        let now = SystemTime::now();
        let mut obs = Observation::new(s.tool.as_deref(), cap.screen.clone(), now);
        obs.tool_version = s.version.clone();
        obs.title = cap.title.clone();
        obs.dead = cap.dead;
        obs.last_output = Some(changed);
        // The recordings were taken 10-14 s after the tool started.
        obs.started = launched - Duration::from_secs(30);
        let v = judge(&obs, &rules);
        eprintln!(
            "{:<40} title {:?} dead {:?} -> {} ({})\n    question: {:?}",
            s.name,
            cap.title,
            cap.dead,
            v.state,
            v.reason,
            v.question
                .as_deref()
                .map(|q| q.lines().next().unwrap_or(""))
        );
        let named = match v.state {
            State::Exited(_) => v.reason.contains("exited with status"),
            State::Unknown => v.reason.contains("no rule matched"),
            _ => v.reason.contains("(rule "),
        };
        if v.state != s.expect || !named {
            failures.push(format!(
                "{}: expected {}, got {} ({})\n{}\n{:#?}",
                s.name, s.expect, v.state, v.reason, cap.screen, v.evidence
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
