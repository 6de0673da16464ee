//! Taking over a rollout an earlier agile-deck left unfinished: the
//! replicas as they are now, driven on to the end or back to the start.

use super::*;

impl<M: From<crate::driver::Report> + Send + 'static> Driver<M> {
    /// Take over a rollout an earlier agile-deck left unfinished: its
    /// replicas as they are now, by name (`prepare_recovered`); replicas
    /// half-way (gone, not serving, an old one renamed aside) are first
    /// put back on the old version; then on to the new version, or every
    /// replica back to the old one.
    pub(super) async fn run_recovery(&mut self, docker: &Docker, r: Resume) {
        let how = if r.back { "rolled back" } else { "resumed" };
        let mut e = self.entry("result");
        (e.run, e.op) = (r.run.clone(), r.op);
        e.outcome = crate::journal::Outcome::Interrupted;
        e.detail = format!("agile-deck stopped mid-way; {how} by #{}", self.view.id);
        self.journaled(e).await;
        let (slots, states) = match self.prepare_recovered(docker, &r).await {
            Ok(p) => p,
            Err(e) => {
                self.finish(Phase::Failed(e)).await;
                return;
            }
        };
        self.view.slots = slots
            .iter()
            .zip(states)
            .map(|(s, (state, note))| crate::rollout::SlotView {
                name: s.name.clone(),
                from: r.from.clone(),
                to: r.to.clone(),
                state,
                health: String::new(),
                took: None,
                note,
            })
            .collect();
        self.send().await;
        if r.back {
            self.roll_back(
                docker,
                &slots,
                "rolled back: agile-deck had stopped mid-way".into(),
            )
            .await;
            return;
        }
        if !self.restore_failed(docker, &slots).await {
            return;
        }
        let left: Vec<usize> = (0..slots.len())
            .filter(|&i| self.view.slots[i].state != SlotState::Replaced)
            .collect();
        if self.roll_forward(docker, &slots, left, false).await {
            self.view.message = format!("every replica on {} (resumed)", r.to);
            self.finish(Phase::Done).await;
        }
    }

    /// The slots of an interrupted rollout, from what holds each name now:
    /// the holder (or the old one renamed aside, or — for a name nothing
    /// holds — a sibling) gives the configuration; both bodies drop what
    /// its image gave. A slot serving on the new image is replaced, one
    /// serving on the old is waiting; anything else failed (to restore).
    pub(super) async fn prepare_recovered(
        &self,
        docker: &Docker,
        r: &Resume,
    ) -> Result<(Vec<Slot>, Vec<(SlotState, String)>), String> {
        let image_config = |image: String| async move {
            docker
                .inspect_image(&image)
                .await
                .map(|i| i.config.unwrap_or_default())
                .map_err(|e| {
                    format!(
                        "image {image} is not on this host ({})",
                        steps::step_error(e).message
                    )
                })
        };
        let from_config = image_config(r.from.clone()).await?;
        let to_config = image_config(r.to.clone()).await?;
        let mut found = Vec::new();
        for name in &r.names {
            found.push(
                Holders::find(docker, name)
                    .await
                    .map_err(|e| format!("{name}: {}", e.message))?,
            );
        }
        let any = found
            .iter()
            .flat_map(|h| h.named.iter().chain(h.aside.iter()))
            .next()
            .map(|h| h.id.clone())
            .ok_or_else(|| {
                format!(
                    "no container of {} is left to take a configuration from",
                    r.names.join(", ")
                )
            })?;
        let mut slots = Vec::new();
        let mut states = Vec::new();
        for (i, (name, h)) in r.names.iter().zip(&found).enumerate() {
            let source = h
                .named
                .as_ref()
                .or(h.aside.first())
                .map(|x| x.id.clone())
                .unwrap_or_else(|| any.clone());
            let c = docker
                .inspect_container(&source, None)
                .await
                .map_err(|e| format!("{name}: {}", steps::step_error(e).message))?;
            let number = name
                .rsplit('-')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(i as u64 + 1);
            let (body, more) = clone_body(&c, number);
            let image = c
                .config
                .as_ref()
                .and_then(|c| c.image.clone())
                .unwrap_or_default();
            let current = if image == r.to {
                to_config.clone()
            } else if image == r.from {
                from_config.clone()
            } else {
                image_config(image.clone()).await.unwrap_or_default()
            };
            slots.push(Slot {
                name: name.clone(),
                old: (rebase(body.clone(), &current, &r.from), more.clone()),
                new: (rebase(body, &current, &r.to), more),
            });
            states.push(match (&h.named, h.aside.is_empty()) {
                (Some(n), true) if n.image == r.to && n.serving() => {
                    (SlotState::Replaced, "on the new version already".into())
                }
                (Some(n), true) if n.image == r.from && n.serving() => {
                    (SlotState::Waiting, String::new())
                }
                (None, _) if h.aside.is_empty() => (
                    SlotState::Failed,
                    "stopped and not replaced: nothing held its name".into(),
                ),
                (named, _) => (
                    SlotState::Failed,
                    format!(
                        "left half-way: {}{}",
                        named
                            .as_ref()
                            .map(|n| n.describe())
                            .unwrap_or_else(|| "nothing under its name".into()),
                        if h.aside.is_empty() {
                            String::new()
                        } else {
                            format!(", {} renamed aside", h.aside.len())
                        }
                    ),
                ),
            });
        }
        Ok((slots, states))
    }
}
