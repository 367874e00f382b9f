//! Child processes that can neither outlive the test nor hang it: a child started with
//! [`die_with_parent`] is killed by the kernel when the thread that started it ends (the test
//! finished, panicked, or its whole process was SIGKILLed), and [`first_line`] waits for a
//! child's first line of output only so long, then kills it and says what never came.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use anyhow::{anyhow, Context};

/// Makes the child started by `cmd` receive SIGKILL when the thread that spawns it ends
/// (`PR_SET_PDEATHSIG`, see prctl(2)): a gateway in a lab's namespace must not keep running,
/// and keep the namespace alive, after a test that was killed. The signal follows the
/// spawning *thread*, not the process: spawn from a thread that lives as long as the child
/// should (a test's own thread, a benchmark's main thread). It survives `exec`, so it also
/// holds for the program `ip netns exec` runs in its place.
pub fn die_with_parent(cmd: &mut Command) -> &mut Command {
    let parent = std::process::id();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: prctl(2) and getppid(2) are, and it allocates
    // nothing (the error is made from a raw OS error code).
    unsafe {
        cmd.pre_exec(move || {
            // prctl is variadic and reads its second argument as an unsigned long.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then no signal would ever come.
            if u32::try_from(libc::getppid()).ok() != Some(parent) {
                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        })
    }
}

/// The first line `child` writes on its (piped) stdout, read on a thread of its own so that
/// the wait is bounded: past `timeout`, or if the child closes stdout without a line, the
/// child is killed and the error names `what` and the timeout. The rest of stdout is not read
/// (the pipe is closed after the line).
pub fn first_line(child: &mut Child, what: &str, timeout: Duration) -> anyhow::Result<String> {
    let stdout = child
        .stdout
        .take()
        .with_context(|| format!("{what}: its stdout is not piped"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let read = BufReader::new(stdout).read_line(&mut line).map(|_| line);
        let _ = tx.send(read);
    });
    let outcome = match rx.recv_timeout(timeout) {
        Ok(Ok(line)) if !line.is_empty() => return Ok(line),
        Ok(Ok(_)) => anyhow!("{what} closed its output without writing a line"),
        Ok(Err(e)) => anyhow!("{what}: cannot read its output: {e}"),
        Err(_) => anyhow!("{what} wrote no line in {timeout:?}: killed it"),
    };
    let _ = child.kill();
    let _ = child.wait();
    Err(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    use crate::harness::wait::wait_for;

    #[test]
    fn a_child_that_writes_nothing_is_killed_at_the_deadline() {
        let mut child = Command::new("sleep")
            .arg("60")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let e = first_line(&mut child, "the silent child", Duration::from_millis(300))
            .unwrap_err()
            .to_string();
        assert!(e.contains("the silent child wrote no line"), "{e}");
        assert!(
            child.try_wait().unwrap().is_some(),
            "it was killed and reaped"
        );
    }

    #[test]
    fn a_first_line_is_read_and_an_empty_output_is_an_error() {
        let mut child = Command::new("sh")
            .args(["-c", "echo 'listening on 1'; exec sleep 60"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let line = first_line(&mut child, "the child", Duration::from_secs(30)).unwrap();
        assert_eq!(line, "listening on 1\n");
        let _ = child.kill();
        let _ = child.wait();
        let mut quiet = Command::new("true").stdout(Stdio::piped()).spawn().unwrap();
        let e = first_line(&mut quiet, "true", Duration::from_secs(30)).unwrap_err();
        assert!(e.to_string().contains("without writing a line"), "{e}");
    }

    /// The thread that started the child ends while the child still runs: the kernel kills it.
    #[test]
    fn a_child_dies_with_the_thread_that_started_it() {
        let mut child = std::thread::spawn(|| {
            die_with_parent(Command::new("sleep").arg("60"))
                .spawn()
                .unwrap()
        })
        .join()
        .unwrap();
        let status = wait_for(Duration::from_secs(30), "the orphaned child to die", || {
            Ok(child.try_wait()?)
        })
        .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    }
}
