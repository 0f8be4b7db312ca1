//! One safetensors file: its header, checked against the file, and positioned reads of single
//! tensors.
//!
//! Format (huggingface/safetensors): an 8-byte little-endian header length `N`, `N` bytes of
//! JSON `{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {..}}`, then
//! the data, offsets relative to its start.
//!
//! Tensors are read on demand with a seek and a read into the final buffer, not memory-mapped:
//! the workspace forbids `unsafe` (mapping a file is `unsafe` because another process may
//! truncate it), and a CPU tensor is copied out of a mapping anyway, so peak memory is the
//! same: one tensor's data, never a whole file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use crate::LoadError;

/// The safetensors format's own cap on header size (100 MB); a bigger value means corruption.
const MAX_HEADER_LEN: u64 = 100_000_000;

/// Bytes read per chunk when decoding tensor data.
const CHUNK: usize = 1 << 20;

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
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
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
        let io = |e| LoadError::io(&self.path, e);
        let mut file = File::open(&self.path).map_err(io)?;
        file.seek(SeekFrom::Start(info.byte_range.start))
            .map_err(io)?;
        let len = (info.byte_range.end - info.byte_range.start) as usize;
        let shape = info.shape.as_slice();
        let tensor = match info.dtype {
            StoredDType::F32 => {
                let data = read_elems(&mut file, len, |b| {
                    f32::from_le_bytes([b[0], b[1], b[2], b[3]])
                });
                Tensor::from_vec(data.map_err(io)?, shape, &Device::Cpu)
            }
            StoredDType::F16 => {
                let data = read_elems(&mut file, len, |b| half::f16::from_le_bytes([b[0], b[1]]));
                Tensor::from_vec(data.map_err(io)?, shape, &Device::Cpu)
            }
            StoredDType::BF16 => {
                let data = read_elems(&mut file, len, |b| half::bf16::from_le_bytes([b[0], b[1]]));
                Tensor::from_vec(data.map_err(io)?, shape, &Device::Cpu)
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

/// Reads `len` bytes from the current position and decodes them `size_of::<T>()` at a time,
/// chunk by chunk, into one vector (no whole-tensor byte buffer beside it).
fn read_elems<T>(
    file: &mut File,
    len: usize,
    decode: impl Fn(&[u8]) -> T,
) -> std::io::Result<Vec<T>> {
    let width = std::mem::size_of::<T>();
    let mut out = Vec::with_capacity(len / width);
    let mut buf = vec![0u8; CHUNK.min(len)];
    let mut left = len;
    while left > 0 {
        let n = left.min(buf.len());
        file.read_exact(&mut buf[..n])?;
        out.extend(buf[..n].chunks_exact(width).map(&decode));
        left -= n;
    }
    Ok(out)
}
