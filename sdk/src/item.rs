//! `batch-sdk` → item: how items travel as bytes (JSON through serde by default, or raw).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Error;

/// How a plugin's Rust item type maps to the opaque bytes the host passes between plugins.
///
/// Every `serde` type is an item, encoded as JSON. Use [`Raw`] to handle the bytes yourself.
pub trait Item: Sized {
    /// Encodes the item for the next plugin.
    fn encode(&self) -> Result<Vec<u8>, Error>;
    /// Decodes an item produced by the previous plugin.
    fn decode(bytes: Vec<u8>) -> Result<Self, Error>;

    /// Decodes an item from borrowed bytes (the block calls hand items over this way). The
    /// default copies the bytes and calls [`Item::decode`].
    fn decode_from(bytes: &[u8]) -> Result<Self, Error> {
        Self::decode(bytes.to_vec())
    }

    /// Appends the item's encoding to `out` (the block calls collect outputs in one buffer).
    /// The default appends what [`Item::encode`] returns.
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.encode()?);
        Ok(())
    }
}

impl<T: Serialize + DeserializeOwned> Item for T {
    fn encode(&self) -> Result<Vec<u8>, Error> {
        serde_json::to_vec(self).map_err(encode_error)
    }

    fn decode(bytes: Vec<u8>) -> Result<Self, Error> {
        Self::decode_from(&bytes)
    }

    fn decode_from(bytes: &[u8]) -> Result<Self, Error> {
        serde_json::from_slice(bytes).map_err(|e| Error::new("item.decode", e.to_string()))
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        serde_json::to_writer(out, self).map_err(encode_error)
    }
}

fn encode_error(e: serde_json::Error) -> Error {
    Error::new("item.encode", e.to_string())
}

/// An item taken as raw bytes, without any decoding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Raw(pub Vec<u8>);

impl Item for Raw {
    fn encode(&self) -> Result<Vec<u8>, Error> {
        Ok(self.0.clone())
    }

    fn decode(bytes: Vec<u8>) -> Result<Self, Error> {
        Ok(Raw(bytes))
    }

    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), Error> {
        out.extend_from_slice(&self.0);
        Ok(())
    }
}
