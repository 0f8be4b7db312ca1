//! How a latent run's autoencoder spreads its normalised latents over directions, and where a
//! clip's motion (its latent minus that of the still clip holding its first frame) lies among
//! them: per latent cell (z values) and per DiT token of 2x2 cells (4z values).
//!
//! ```sh
//! cargo run --release -p kino-train --example latent_spectrum -- RUN_DIR
//! ```
//!
//! RUN_DIR is a `kino train mini --recipe <latent recipe>` output folder (its `recipe.json` and
//! finished `autoencoder/`). Prints, per direction from the largest variance down, the
//! variance, the share of the motion's energy along it and the cumulative share.

use anyhow::Context;
use candle_core::{DType, Device, Tensor};
use kino_train::whiten::symmetric_eigen;
use kino_train::{Quiet, Recipe, data};

/// Rows of `patch x patch` cells' values, `(B h w / patch^2, z patch^2)`.
fn token_rows(latents: &Tensor, patch: usize) -> anyhow::Result<Vec<Vec<f64>>> {
    let (b, z, _, h, w) = latents.dims5()?;
    Ok(latents
        .squeeze(2)?
        .reshape((b, z, h / patch, patch, w / patch, patch))?
        .permute((0, 2, 4, 1, 3, 5))?
        .contiguous()?
        .reshape((b * (h / patch) * (w / patch), z * patch * patch))?
        .to_dtype(DType::F64)?
        .to_vec2::<f64>()?)
}

fn main() -> anyhow::Result<()> {
    let run = std::path::PathBuf::from(
        std::env::args()
            .nth(1)
            .context("usage: latent_spectrum RUN_DIR")?,
    );
    let path = run.join("recipe.json");
    let text = std::fs::read_to_string(&path).with_context(|| path.display().to_string())?;
    let recipe = Recipe::with_overrides(&serde_json::from_str(&text)?)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let ae_recipe = recipe
        .autoencoder
        .clone()
        .context("the run's recipe has no autoencoder")?;
    let ae =
        kino_train::autoencoder::train_autoencoder(&recipe, &ae_recipe, &run, None, &mut Quiet)?;
    let (mut latents, mut motions) = (Vec::new(), Vec::new());
    for i in 0..16 {
        // clips of neither training stage's data stream
        let batch = data::world_batch(&recipe, 55_000_000 + i, 16, &Device::Cpu)?;
        let frames = batch.clips.dim(2)?;
        let still = batch.clips.narrow(2, 0, 1)?.repeat((1, 1, frames, 1, 1))?;
        let latent = ae.latents(&batch.clips)?;
        motions.push((&latent - ae.latents(&still)?)?);
        latents.push(latent);
    }
    let (latents, motions) = (Tensor::cat(&latents, 0)?, Tensor::cat(&motions, 0)?);
    for patch in [1, 2] {
        let data = token_rows(&latents, patch)?;
        let motion = token_rows(&motions, patch)?;
        let (d, n) = (data[0].len(), data.len() as f64);
        let mean: Vec<f64> = (0..d)
            .map(|j| data.iter().map(|r| r[j]).sum::<f64>() / n)
            .collect();
        let mut cov = vec![vec![0.0; d]; d];
        for r in &data {
            for i in 0..d {
                for j in 0..d {
                    cov[i][j] += (r[i] - mean[i]) * (r[j] - mean[j]) / n;
                }
            }
        }
        let (values, vectors) = symmetric_eigen(&cov);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| values[b].total_cmp(&values[a]));
        let along = |k: usize| -> f64 {
            motion
                .iter()
                .map(|r| (0..d).map(|j| r[j] * vectors[j][k]).sum::<f64>().powi(2))
                .sum()
        };
        let total: f64 = (0..d).map(along).sum();
        println!(
            "{patch}x{patch} cells: {d} values, {} samples, total variance {:.3}",
            data.len(),
            values.iter().sum::<f64>()
        );
        println!("variance  motion share  cumulative");
        let mut cumulative = 0.0;
        for k in order {
            let share = along(k) / total;
            cumulative += share;
            println!("{:>8.4}  {share:>12.3}  {cumulative:>10.3}", values[k]);
        }
    }
    Ok(())
}
