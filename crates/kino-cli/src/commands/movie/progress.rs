//! `kino movie render`'s bars: one for the film (shots done), one per shot being rendered
//! (its denoising steps), one for assembly. Hidden with --quiet or off a terminal.

use std::collections::HashMap;

use indicatif::{MultiProgress, ProgressBar};
use kino_movie::{FilmProgress, Shot, ShotContent};

use crate::progress;

/// Film and shot bars on stderr.
pub struct Bars {
    quiet: bool,
    multi: MultiProgress,
    film: Option<ProgressBar>,
    shots: HashMap<usize, ProgressBar>,
    assembly: Option<ProgressBar>,
}

impl Bars {
    /// No bars yet; they appear when rendering begins.
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            multi: MultiProgress::new(),
            film: None,
            shots: HashMap::new(),
            assembly: None,
        }
    }

    /// Clears every bar.
    pub fn finish(&mut self) {
        for bar in self
            .shots
            .drain()
            .map(|(_, b)| b)
            .chain(self.film.take())
            .chain(self.assembly.take())
        {
            bar.finish_and_clear();
        }
    }
}

impl FilmProgress for Bars {
    fn begin(&mut self, total: usize, _to_render: usize) {
        self.film = Some(
            self.multi
                .add(progress::bar(total as u64, "film", self.quiet)),
        );
    }

    fn shot_started(&mut self, shot: &Shot) {
        if self.quiet {
            return;
        }
        let bar = self
            .multi
            .add(progress::bar(1, &format!("shot {}", shot.number), false));
        if let ShotContent::Generated { prompt, .. } = &shot.content {
            let short: String = prompt.chars().take(60).collect();
            bar.println(format!("shot {}: {short}", shot.number));
        }
        self.shots.insert(shot.number, bar);
    }

    fn shot_step(&mut self, shot: usize, done: usize, total: usize) {
        if let Some(bar) = self.shots.get(&shot) {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    }

    fn shot_finished(&mut self, shot: &Shot, _cached: bool) {
        if let Some(bar) = self.shots.remove(&shot.number) {
            bar.finish_and_clear();
        }
        if let Some(film) = &self.film {
            film.inc(1);
        }
    }

    fn warning(&mut self, shot: usize, message: &str) {
        // Warnings always show: above the bars on a terminal, plainly otherwise.
        let line = format!("warning: shot {shot}: {message}");
        if self.quiet || self.multi.is_hidden() || self.multi.println(&line).is_err() {
            eprintln!("{line}");
        }
    }

    fn assembling(&mut self, done: usize, total: usize) {
        if let Some(film) = self.film.take() {
            film.finish_and_clear();
        }
        let quiet = self.quiet;
        let multi = &self.multi;
        let bar = self
            .assembly
            .get_or_insert_with(|| multi.add(progress::bar(total as u64, "assemble", quiet)));
        bar.set_position(done as u64);
    }
}
