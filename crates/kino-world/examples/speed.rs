//! Times rendering at training and preview sizes: `cargo run --release -p kino-world --example speed`.

use kino_world::{RenderSettings, Rng, render, sample_scene};
use std::time::Instant;

fn main() -> Result<(), kino_world::RenderError> {
    for (w, h, frames, n) in [(32, 32, 8, 2000), (256, 256, 24, 40), (832, 480, 81, 4)] {
        let mut rng = Rng::new(1);
        let start = Instant::now();
        for seed in 0..n {
            let spec = sample_scene(&mut rng);
            render(
                &spec,
                &RenderSettings {
                    width: w,
                    height: h,
                    fps: 16.0,
                    frames,
                    seed,
                },
            )?;
        }
        let per = start.elapsed().as_secs_f64() / f64::from(n as u32);
        println!("{w}x{h}x{frames}: {:.1} us per clip", per * 1e6);
    }
    Ok(())
}
