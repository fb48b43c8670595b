use super::*;

/// Input: the context, the HTTP request and the HTTP response about to be sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input<J> {
    /// The request context.
    pub context: Option<J>,
    /// The HTTP request.
    pub request: Option<J>,
    /// The HTTP response (`HttpResponse` JSON: status_code, headers, base64 body).
    pub response: Option<J>,
}

impl<J> Default for Input<J> {
    fn default() -> Self {
        Input {
            context: None,
            request: None,
            response: None,
        }
    }
}

impl<'a> Input<&'a str> {
    /// Reads the input members from an envelope.
    pub fn read(env: &Envelope<'a>) -> Self {
        Input {
            context: env.get("context"),
            request: env.get("request"),
            response: env.get("response"),
        }
    }
}

impl<J: WriteJson> Input<J> {
    /// Appends the input envelope to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(FRAME + len(&self.context) + len(&self.request) + len(&self.response));
        Writer::new(out)
            .json("context", &self.context)
            .json("request", &self.request)
            .json("response", &self.response)
            .end();
    }
}

/// Output: the context and the hook's own error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output<'e, J> {
    /// The context, with the plugin's additions.
    pub context: Option<J>,
    /// Non-empty when the hook failed: Bifrost answers with an error.
    pub error: Cow<'e, str>,
}

impl<J> Default for Output<'_, J> {
    fn default() -> Self {
        Output {
            context: None,
            error: Cow::Borrowed(""),
        }
    }
}

impl<'a> Output<'a, &'a str> {
    /// Reads the output members from an envelope.
    pub fn read(env: &Envelope<'a>) -> Result<Self, CodecError> {
        Ok(Output {
            context: env.get("context"),
            error: env.text("error"),
        })
    }
}

impl<J: WriteJson> Output<'_, J> {
    /// Appends the output envelope to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(FRAME + len(&self.context) + self.error.len());
        Writer::new(out)
            .json("context", &self.context)
            .text("error", &self.error)
            .end();
    }
}
