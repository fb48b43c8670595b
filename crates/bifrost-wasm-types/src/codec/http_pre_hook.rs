use super::*;

/// Input: the request context and the HTTP request (`HttpRequest` JSON: method, path,
/// headers, query, base64 body).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input<J> {
    /// The request context (a JSON object).
    pub context: Option<J>,
    /// The HTTP request.
    pub request: Option<J>,
}

impl<J> Default for Input<J> {
    fn default() -> Self {
        Input {
            context: None,
            request: None,
        }
    }
}

impl<'a> Input<&'a str> {
    /// Reads the input members from an envelope.
    pub fn read(env: &Envelope<'a>) -> Self {
        Input {
            context: env.get("context"),
            request: env.get("request"),
        }
    }
}

impl<J: WriteJson> Input<J> {
    /// Appends the input envelope to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(FRAME + len(&self.context) + len(&self.request));
        Writer::new(out)
            .json("context", &self.context)
            .json("request", &self.request)
            .end();
    }
}

/// Output: the context, the (possibly rewritten) request, or a response that answers
/// the client at once (`has_response`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output<'e, J> {
    /// The context, with the plugin's additions.
    pub context: Option<J>,
    /// The request to continue with (`null` = unchanged).
    pub request: Option<J>,
    /// The HTTP response to answer with when `has_response`.
    pub response: Option<J>,
    /// True when the plugin answers the request itself.
    pub has_response: bool,
    /// Non-empty when the hook failed: Bifrost answers with an error.
    pub error: Cow<'e, str>,
}

impl<J> Default for Output<'_, J> {
    fn default() -> Self {
        Output {
            context: None,
            request: None,
            response: None,
            has_response: false,
            error: Cow::Borrowed(""),
        }
    }
}

impl<'a> Output<'a, &'a str> {
    /// Reads the output members from an envelope.
    pub fn read(env: &Envelope<'a>) -> Result<Self, CodecError> {
        Ok(Output {
            context: env.get("context"),
            request: env.get("request"),
            response: env.get("response"),
            has_response: env.flag("has_response")?,
            error: env.text("error"),
        })
    }
}

impl<J: WriteJson> Output<'_, J> {
    /// Appends the output envelope to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(FRAME + len(&self.context) + len(&self.request) + len(&self.response) + self.error.len());
        Writer::new(out)
            .json("context", &self.context)
            .json("request", &self.request)
            .json("response", &self.response)
            .flag("has_response", self.has_response)
            .text("error", &self.error)
            .end();
    }
}
