//! Reading a model as it is downloaded: the diffusers directory layout, JSON configs, and
//! single-file or sharded safetensors; and seeded random weights of any shape for benchmarks.

mod json;
mod model_index;
mod random;
mod safetensors_file;
mod weights;

pub use json::read_json;
pub use model_index::{Component, ModelDir, ModelIndex};
pub use random::RandomWeights;
pub use safetensors_file::{StoredDType, TensorInfo};
pub use weights::Weights;
