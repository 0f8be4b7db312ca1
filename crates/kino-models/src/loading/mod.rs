//! Reading a model as it is downloaded: the diffusers directory layout, JSON configs, and
//! single-file or sharded safetensors.

mod json;
mod model_index;
mod safetensors_file;
mod weights;

pub use json::read_json;
pub use model_index::{Component, ModelDir, ModelIndex};
pub use safetensors_file::{StoredDType, TensorInfo};
pub use weights::Weights;
