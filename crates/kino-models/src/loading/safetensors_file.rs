//! One safetensors file: its header, checked against the file, and positioned reads of single
//! tensors.
//!
//! Format (huggingface/safetensors): an 8-byte little-endian header length `N`, `N` bytes of
//! JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {..}}`, then
//! the data, offsets relative to its start.
//!
//! The file is memory-mapped once its header checks out, and each tensor is decoded from the
//! mapping into its own buffer when asked for: no read calls, pages come in as they are
//! touched and are shared with the page cache, and peak memory is one tensor's data, never a
//! whole file. Mapping is the one `unsafe` operation in the workspace ([`map_file`]).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::LoadError;

/// The safetensors format's own cap on header size (100 MB); a bigger value means corruption.
const MAX_HEADER_LEN: u64 = 100_000_000;

/// A tensor's element type as stored on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoredDType {
    /// 32-bit float.
    F32,
    /// IEEE half.
    F16,
    /// bfloat16.
    BF16,
    /// Anything else the header names (`F64`, `I64`, `F8_E4M3`, ...), which this loader does
    /// not convert.
    Other(String),
}

impl StoredDType {
    fn parse(s: &str) -> Self {
        match s {
            "F32" => Self::F32,
            "F16" => Self::F16,
            "BF16" => Self::BF16,
            other => Self::Other(other.to_string()),
        }
    }

    /// Bytes per element, where the format defines it.
    fn size_in_bytes(&self) -> Option<u64> {
        match self {
            Self::F32 => Some(4),
            Self::F16 | Self::BF16 => Some(2),
            Self::Other(s) => match s.as_str() {
                "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => Some(1),
                "I16" | "U16" => Some(2),
                "I32" | "U32" => Some(4),
                "I64" | "U64" | "F64" => Some(8),
                _ => None,
            },
        }
    }
}

impl std::fmt::Display for StoredDType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::F32 => f.write_str("F32"),
            Self::F16 => f.write_str("F16"),
            Self::BF16 => f.write_str("BF16"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// Where one tensor lives in its file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Element type on disk.
    pub dtype: StoredDType,
    /// Shape on disk.
    pub shape: Vec<usize>,
    /// Byte range in the file (absolute, header included).
    pub byte_range: std::ops::Range<u64>,
}

#[derive(Deserialize)]
struct RawEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: [u64; 2],
}

/// A safetensors file whose header has been read and checked.
#[derive(Debug, Clone)]
pub(crate) struct SafetensorsFile {
    pub(crate) path: PathBuf,
    pub(crate) tensors: BTreeMap<String, TensorInfo>,
    map: std::sync::Arc<memmap2::Mmap>,
}

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map_file(file: &File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the mapping is read-only and private to this process; it stays valid as long as
    // the file is not truncated or rewritten by someone else while a model loads, the same
    // contract safetensors, candle and PyTorch rely on. Every tensor's byte range was checked
    // against the file length before any byte is read.
    unsafe { memmap2::Mmap::map(file) }
}

impl SafetensorsFile {
    /// Reads and checks the header of `path` (not the data).
    pub(crate) fn open(path: &Path) -> Result<Self, LoadError> {
        let corrupt = |reason: String| LoadError::CorruptSafetensors {
            path: path.to_path_buf(),
            reason,
        };
        let mut file = File::open(path).map_err(|e| LoadError::io(path, e))?;
        let file_len = file.metadata().map_err(|e| LoadError::io(path, e))?.len();
        if file_len < 8 {
            return Err(corrupt(format!("{file_len} bytes, too short for a header")));
        }
        let mut len_bytes = [0u8; 8];
        file.read_exact(&mut len_bytes)
            .map_err(|e| LoadError::io(path, e))?;
        let header_len = u64::from_le_bytes(len_bytes);
        if header_len > MAX_HEADER_LEN || 8 + header_len > file_len {
            return Err(corrupt(format!(
                "header length {header_len} does not fit in a file of {file_len} bytes"
            )));
        }
        let mut header = vec![0u8; header_len as usize];
        file.read_exact(&mut header)
            .map_err(|e| LoadError::io(path, e))?;
        let header = std::str::from_utf8(&header)
            .map_err(|e| corrupt(format!("header is not UTF-8: {e}")))?;
        let raw: BTreeMap<String, serde_json::Value> = serde_json::from_str(header)
            .map_err(|e| corrupt(format!("header is not a JSON object: {e}")))?;

        let data_start = 8 + header_len;
        let data_len = file_len - data_start;
        let mut tensors = BTreeMap::new();
        for (name, value) in raw {
            if name == "__metadata__" {
                continue;
            }
            let entry: RawEntry = serde_json::from_value(value)
                .map_err(|e| corrupt(format!("header entry for tensor {name}: {e}")))?;
            let [begin, end] = entry.data_offsets;
            if begin > end || end > data_len {
                return Err(corrupt(format!(
                    "tensor {name} has data offsets [{begin}, {end}] outside the {data_len} data bytes"
                )));
            }
            let dtype = StoredDType::parse(&entry.dtype);
            if let Some(size) = dtype.size_in_bytes() {
                let elems: u64 = entry.shape.iter().map(|&d| d as u64).product();
                if elems * size != end - begin {
                    return Err(corrupt(format!(
                        "tensor {name} ({dtype}, shape {:?}) needs {} bytes but has {}",
                        entry.shape,
                        elems * size,
                        end - begin
                    )));
                }
            }
            let info = TensorInfo {
                dtype,
                shape: entry.shape,
                byte_range: data_start + begin..data_start + end,
            };
            tensors.insert(name, info);
        }
        let map = map_file(&file).map_err(|e| LoadError::io(path, e))?;
        if (map.len() as u64) < file_len {
            return Err(corrupt(format!(
                "the file shrank to {} bytes while it was opened",
                map.len()
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            map: std::sync::Arc::new(map),
        })
    }

    /// Reads tensor `name` (which must be in this file) as `dtype` on `device`.
    pub(crate) fn read(
        &self,
        component: &str,
        name: &str,
        info: &TensorInfo,
        dtype: DType,
        device: &Device,
    ) -> Result<Tensor, LoadError> {
        let range = info.byte_range.start as usize..info.byte_range.end as usize;
        let bytes = self
            .map
            .get(range)
            .ok_or_else(|| LoadError::CorruptSafetensors {
                path: self.path.clone(),
                reason: format!("tensor {name}'s bytes lie past the end of the file"),
            })?;
        let shape = info.shape.as_slice();
        let tensor = match info.dtype {
            StoredDType::F32 => {
                let data = decode(bytes, |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                Tensor::from_vec(data, shape, &Device::Cpu)
            }
            StoredDType::F16 => {
                let data = decode(bytes, |b| half::f16::from_le_bytes([b[0], b[1]]));
                Tensor::from_vec(data, shape, &Device::Cpu)
            }
            StoredDType::BF16 => {
                let data = decode(bytes, |b| half::bf16::from_le_bytes([b[0], b[1]]));
                Tensor::from_vec(data, shape, &Device::Cpu)
            }
            StoredDType::Other(ref s) => {
                return Err(LoadError::UnsupportedDtype {
                    component: component.to_string(),
                    path: self.path.clone(),
                    name: name.to_string(),
                    dtype: s.clone(),
                });
            }
        };
        let candle = |source| LoadError::Tensor {
            component: component.to_string(),
            name: name.to_string(),
            source: Box::new(source),
        };
        tensor
            .and_then(|t| t.to_dtype(dtype))
            .and_then(|t| t.to_device(device))
            .map_err(candle)
    }
}

/// Decodes little-endian elements of `size_of::<T>()` bytes into one vector.
fn decode<T>(bytes: &[u8], decode: impl Fn(&[u8]) -> T) -> Vec<T> {
    bytes
        .chunks_exact(std::mem::size_of::<T>())
        .map(decode)
        .collect()
}
