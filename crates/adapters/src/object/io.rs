//! Bytes to and from the store: an upload written in parts, an object read as a
//! blocking stream.

use std::io::{Read, Write};

use anyhow::Context;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::WriteMultipart;
use sha2::{Digest, Sha256};

use super::ObjectStorage;

/// How many parts of one upload are in flight at once.
const UPLOADS_IN_FLIGHT: usize = 4;

/// How many bytes a writer gathers before handing them to the upload.
const WRITE_BUFFER: usize = 1 << 20;

/// An object being uploaded; see [`ObjectStorage::writer`].
pub struct ObjectWriter {
    storage: ObjectStorage,
    key: String,
    upload: Option<WriteMultipart>,
    buffer: Vec<u8>,
    hasher: Sha256,
    size: u64,
}

impl ObjectWriter {
    pub(super) fn new(
        storage: ObjectStorage,
        key: &str,
        upload: Box<dyn object_store::MultipartUpload>,
    ) -> Self {
        Self {
            storage,
            key: key.to_owned(),
            upload: Some(WriteMultipart::new(upload)),
            buffer: Vec::with_capacity(WRITE_BUFFER),
            hasher: Sha256::new(),
            size: 0,
        }
    }

    /// Completes the upload: the object appears whole. Returns its size and SHA-256.
    pub fn finish(mut self) -> anyhow::Result<(u64, String)> {
        self.hand_over()?;
        let upload = self.upload.take().context("the upload has ended")?;
        if let Err(e) = self.storage.block(upload.finish()) {
            return Err(e).with_context(|| format!("completing the upload of {}", self.key));
        }
        let sha256 = hex::encode(std::mem::take(&mut self.hasher).finalize());
        Ok((self.size, sha256))
    }

    /// Abandons the upload; the parts sent so far are deleted by the store.
    pub fn abort(mut self) {
        self.abort_upload();
    }

    fn abort_upload(&mut self) {
        if let Some(upload) = self.upload.take() {
            if let Err(e) = self.storage.block(upload.abort()) {
                tracing::warn!(key = %self.key, error = %e, "could not abort an upload");
            }
        }
    }

    /// Gives the gathered bytes to the upload, which sends them in parts from the
    /// storage's runtime, once fewer than [`UPLOADS_IN_FLIGHT`] parts are on their way.
    fn hand_over(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let mut upload = self
            .upload
            .take()
            .ok_or_else(|| std::io::Error::other("the upload has ended"))?;
        let bytes = std::mem::replace(&mut self.buffer, Vec::with_capacity(WRITE_BUFFER));
        let (upload, sent) = self.storage.block(async move {
            let sent = upload.wait_for_capacity(UPLOADS_IN_FLIGHT).await;
            if sent.is_ok() {
                upload.write(&bytes);
            }
            (upload, sent)
        });
        self.upload = Some(upload);
        sent.map_err(std::io::Error::other)
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        self.abort_upload();
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.upload.is_none() {
            return Err(std::io::Error::other("the upload has ended"));
        }
        self.buffer.extend_from_slice(buf);
        self.hasher.update(buf);
        self.size += buf.len() as u64;
        if self.buffer.len() >= WRITE_BUFFER {
            self.hand_over()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Nothing is durable before `finish`; flushing early would only cut parts short.
        Ok(())
    }
}

/// An object's byte stream as a blocking reader.
pub(super) struct StreamReader {
    storage: ObjectStorage,
    stream: Option<BoxStream<'static, object_store::Result<bytes::Bytes>>>,
    chunk: bytes::Bytes,
}

impl StreamReader {
    pub(super) fn new(
        storage: ObjectStorage,
        stream: BoxStream<'static, object_store::Result<bytes::Bytes>>,
    ) -> Self {
        Self {
            storage,
            stream: Some(stream),
            chunk: bytes::Bytes::new(),
        }
    }
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.chunk.is_empty() {
            let Some(mut stream) = self.stream.take() else {
                return Ok(0);
            };
            let (stream, next) = self.storage.block(async move {
                let next = stream.next().await;
                (stream, next)
            });
            match next {
                Some(Ok(chunk)) => {
                    self.stream = Some(stream);
                    self.chunk = chunk;
                }
                Some(Err(e)) => return Err(std::io::Error::other(e)),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}
