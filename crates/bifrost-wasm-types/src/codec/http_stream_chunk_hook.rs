use super::*;

/// Input: the context, the HTTP request and the chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input<J> {
    /// The request context.
    pub context: Option<J>,
    /// The HTTP request.
    pub request: Option<J>,
    /// The chunk.
    pub chunk: Option<J>,
}

impl<J> Default for Input<J> {
    fn default() -> Self {
        Input {
            context: None,
            request: None,
            chunk: None,
        }
    }
}

impl<'a> Input<&'a str> {
    /// Reads the input members from an envelope.
    pub fn read(env: &Envelope<'a>) -> Self {
        Input {
            context: env.get("context"),
            request: env.get("request"),
            chunk: env.get("chunk"),
        }
    }
}

impl<J: WriteJson> Input<J> {
    /// Appends the input envelope to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(FRAME + len(&self.context) + len(&self.request) + len(&self.chunk));
        Writer::new(out)
            .json("context", &self.context)
            .json("request", &self.request)
            .json("chunk", &self.chunk)
            .end();
    }
}

/// Output: the chunk to send, or `skip` to drop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output<'e, J> {
    /// The context, with the plugin's additions.
    pub context: Option<J>,
    /// The chunk to send (`null` = unchanged).
    pub chunk: Option<J>,
    /// True when `chunk` carries the chunk to send.
    pub has_chunk: bool,
    /// True to drop the chunk.
    pub skip: bool,
    /// Non-empty when the hook failed: with a chunk, logged; without, the stream ends.
    pub error: Cow<'e, str>,
}

impl<J> Default for Output<'_, J> {
    fn default() -> Self {
        Output {
            context: None,
            chunk: None,
            has_chunk: false,
            skip: false,
            error: Cow::Borrowed(""),
        }
    }
}

impl<'a> Output<'a, &'a str> {
    /// Reads the output members from an envelope.
    pub fn read(env: &Envelope<'a>) -> Result<Self, CodecError> {
        Ok(Output {
            context: env.get("context"),
            chunk: env.get("chunk"),
            has_chunk: env.flag("has_chunk")?,
            skip: env.flag("skip")?,
            error: env.text("error"),
        })
    }
}

impl<J: WriteJson> Output<'_, J> {
    /// Appends the output envelope to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(FRAME + len(&self.context) + len(&self.chunk) + self.error.len());
        Writer::new(out)
            .json("context", &self.context)
            .json("chunk", &self.chunk)
            .flag("has_chunk", self.has_chunk)
            .flag("skip", self.skip)
            .text("error", &self.error)
            .end();
    }
}
