//! Helpers shared by kino-train's integration tests.

use kino_train::Recipe;
use kino_train::autoencoder::AutoencoderRecipe;

/// The tiny recipe (16x16, 4 frames) in latent space: a 2x spatial autoencoder of 4 latent
/// channels (40 steps), so the DiT sees one 8x8 latent picture per clip, in one-cell patches.
pub fn latent_recipe() -> Recipe {
    Recipe {
        autoencoder: Some(AutoencoderRecipe {
            base_dim: 8,
            z_dim: 4,
            dim_mult: vec![1, 2],
            num_res_blocks: 1,
            steps: 40,
            batch: 8,
            learning_rate: 3e-3,
            kl_weight: 1e-3,
            object_weight: 8.0,
            motion_weight: 4.0,
            ..AutoencoderRecipe::default()
        }),
        patch: [1, 1, 1],
        ..Recipe::tiny()
    }
}
