//! A shell (or any command) in a replica, through the Docker exec API with
//! a TTY, in the operator's terminal: the dashboard steps aside (leaves the
//! alternate screen, keeps raw mode so every key goes through), the
//! terminal's size follows resizes, and when the command ends — after a key
//! — the dashboard comes back as it was.
//!
//! Keys are read through crossterm's event stream, which the dashboard
//! owns anyway, and turned back into the bytes a terminal would send:
//! reading stdin directly as well would race with it for the operator's
//! keystrokes.

use std::io::Write;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;

/// The bytes a terminal sends for a key.
pub fn key_bytes(k: &KeyEvent) -> Vec<u8> {
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    let alt = k.modifiers.contains(KeyModifiers::ALT);
    let mut out = Vec::new();
    if alt {
        out.push(0x1b);
    }
    match k.code {
        KeyCode::Char(c) if ctrl && c.is_ascii_alphabetic() => {
            out.push((c.to_ascii_lowercase() as u8) & 0x1f)
        }
        KeyCode::Char(' ') if ctrl => out.push(0),
        KeyCode::Char(c) => {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
        KeyCode::Enter => out.push(b'\r'),
        KeyCode::Backspace => out.push(0x7f),
        KeyCode::Tab => out.push(b'\t'),
        KeyCode::BackTab => out.extend_from_slice(b"\x1b[Z"),
        KeyCode::Esc => out.push(0x1b),
        KeyCode::Up => out.extend_from_slice(b"\x1b[A"),
        KeyCode::Down => out.extend_from_slice(b"\x1b[B"),
        KeyCode::Right => out.extend_from_slice(b"\x1b[C"),
        KeyCode::Left => out.extend_from_slice(b"\x1b[D"),
        KeyCode::Home => out.extend_from_slice(b"\x1b[H"),
        KeyCode::End => out.extend_from_slice(b"\x1b[F"),
        KeyCode::PageUp => out.extend_from_slice(b"\x1b[5~"),
        KeyCode::PageDown => out.extend_from_slice(b"\x1b[6~"),
        KeyCode::Delete => out.extend_from_slice(b"\x1b[3~"),
        KeyCode::Insert => out.extend_from_slice(b"\x1b[2~"),
        KeyCode::F(n @ 1..=4) => out.extend_from_slice(&[0x1b, b'O', b'P' + n - 1]),
        _ => {}
    }
    out
}

/// Run `cmd` in container `id` (`name` for messages) attached to this
/// terminal. The caller has the terminal in raw mode on the alternate
/// screen and gets it back so. Returns a line for the dashboard.
pub async fn session(
    docker: &Docker,
    input: &mut EventStream,
    id: &str,
    name: &str,
    cmd: &[String],
) -> Result<String, String> {
    let mut out = std::io::stdout();
    let _ = crossterm::execute!(
        out,
        crossterm::terminal::LeaveAlternateScreen,
        crossterm::cursor::Show
    );
    // A clean screen for each command: what was there (the shell before
    // agile-deck, an earlier command) scrolls up into the terminal's
    // scrollback rather than being erased, and this one's output stays
    // scrollable there too.
    let rows = crossterm::terminal::size().map_or(50, |(_, h)| h);
    let _ = write!(out, "{}", "\r\n".repeat(rows as usize));
    let _ = crossterm::execute!(
        out,
        crossterm::cursor::MoveTo(0, 0),
        crossterm::terminal::Clear(crossterm::terminal::ClearType::FromCursorDown)
    );
    crate::terminal::pause_mouse(true);
    let result = run(docker, input, id, name, cmd).await;
    let _ = write!(
        out,
        "\r\n\x1b[7m {} — press any key to return to agile-deck \x1b[0m",
        match &result {
            Ok(s) | Err(s) => s.as_str(),
        }
    );
    let _ = out.flush();
    // Wait for a key, so the output can be read.
    while let Some(Ok(ev)) = input.next().await {
        if matches!(ev, Event::Key(k) if k.kind != KeyEventKind::Release) {
            break;
        }
    }
    crate::terminal::pause_mouse(false);
    let _ = crossterm::execute!(
        out,
        crossterm::terminal::EnterAlternateScreen,
        crossterm::cursor::Hide
    );
    result
}

async fn run(
    docker: &Docker,
    input: &mut EventStream,
    id: &str,
    name: &str,
    cmd: &[String],
) -> Result<String, String> {
    let mut out = std::io::stdout();
    let _ = write!(
        out,
        "\r\n\x1b[1magile-deck: {} in {name}\x1b[0m (the dashboard comes back when it ends)\r\n",
        cmd.join(" ")
    );
    let _ = out.flush();
    let exec = docker
        .create_exec(
            id,
            CreateExecOptions {
                cmd: Some(cmd.to_vec()),
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(true),
                env: Some(vec!["TERM=xterm-256color".to_string()]),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| format!("cannot run {} in {name}: {e}", cmd.join(" ")))?;
    let started = docker
        .start_exec(
            &exec.id,
            Some(StartExecOptions {
                detach: false,
                tty: true,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| format!("cannot start {} in {name}: {e}", cmd.join(" ")))?;
    let StartExecResults::Attached {
        mut output,
        input: mut to_exec,
    } = started
    else {
        return Err("Docker detached the command".into());
    };
    let resize = |(w, h): (u16, u16)| {
        let exec_id = exec.id.clone();
        async move {
            let _ = docker
                .resize_exec(
                    &exec_id,
                    ResizeExecOptions {
                        height: h,
                        width: w,
                    },
                )
                .await;
        }
    };
    if let Ok(size) = crossterm::terminal::size() {
        resize(size).await;
    }
    loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Ok(o)) => {
                    let _ = out.write_all(&o.into_bytes());
                    let _ = out.flush();
                }
                Some(Err(e)) => return Err(format!("the connection to {name} broke: {e}")),
                None => break,
            },
            ev = input.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    let _ = to_exec.write_all(&key_bytes(&k)).await;
                }
                Some(Ok(Event::Paste(text))) => {
                    let _ = to_exec.write_all(text.as_bytes()).await;
                }
                Some(Ok(Event::Resize(w, h))) => resize((w, h)).await,
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
        }
    }
    let code = docker
        .inspect_exec(&exec.id)
        .await
        .ok()
        .and_then(|i| i.exit_code)
        .unwrap_or(-1);
    Ok(match code {
        126 | 127 => format!(
            "{} is not in {name}'s image (exit {code}); try :exec {name} COMMAND",
            cmd[0]
        ),
        0 => format!("{} in {name} ended (exit 0)", cmd.join(" ")),
        c => format!("{} in {name} ended with exit {c}", cmd.join(" ")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(code: KeyCode, m: KeyModifiers) -> Vec<u8> {
        key_bytes(&KeyEvent::new(code, m))
    }

    #[test]
    fn keys_become_terminal_bytes() {
        assert_eq!(k(KeyCode::Char('a'), KeyModifiers::NONE), b"a");
        assert_eq!(k(KeyCode::Char('é'), KeyModifiers::NONE), "é".as_bytes());
        assert_eq!(k(KeyCode::Char('c'), KeyModifiers::CONTROL), [3]);
        assert_eq!(k(KeyCode::Char('d'), KeyModifiers::CONTROL), [4]);
        assert_eq!(k(KeyCode::Enter, KeyModifiers::NONE), b"\r");
        assert_eq!(k(KeyCode::Backspace, KeyModifiers::NONE), [0x7f]);
        assert_eq!(k(KeyCode::Up, KeyModifiers::NONE), b"\x1b[A");
        assert_eq!(k(KeyCode::Char('b'), KeyModifiers::ALT), b"\x1bb");
        assert_eq!(k(KeyCode::F(1), KeyModifiers::NONE), b"\x1bOP");
    }
}
