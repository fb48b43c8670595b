use super::*;

/// Input: the context and the response or error. `error` is `{}` when there is none:
/// `has_error` is the flag that counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input<J> {
    /// The request context.
    pub context: Option<J>,
    /// The response (`null` when there is only an error).
    pub response: Option<J>,
    /// The error (`{}` or `null` when there is none).
    pub error: Option<J>,
    /// True when the request failed.
    pub has_error: bool,
}

impl<J> Default for Input<J> {
    fn default() -> Self {
        Input {
            context: None,
            response: None,
            error: None,
            has_error: false,
        }
    }
}

impl<'a> Input<&'a str> {
    /// Reads the input members from an envelope.
    pub fn read(env: &Envelope<'a>) -> Result<Self, CodecError> {
        Ok(Input {
            context: env.get("context"),
            response: env.get("response"),
            error: env.get("error"),
            has_error: env.flag("has_error")?,
        })
    }
}

impl<J: WriteJson> Input<J> {
    /// Appends the input envelope to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(FRAME + len(&self.context) + len(&self.response) + len(&self.error));
        Writer::new(out)
            .json("context", &self.context)
            .json("response", &self.response)
            .json("error", &self.error)
            .flag("has_error", self.has_error)
            .end();
    }
}

/// Output: the (possibly changed) response or error, and the hook's own failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output<'e, J> {
    /// The context, with the plugin's additions.
    pub context: Option<J>,
    /// The response.
    pub response: Option<J>,
    /// The request's error.
    pub error: Option<J>,
    /// True when the request ends in `error`.
    pub has_error: bool,
    /// Non-empty when the hook itself failed: Bifrost logs it and continues.
    pub hook_error: Cow<'e, str>,
}

impl<J> Default for Output<'_, J> {
    fn default() -> Self {
        Output {
            context: None,
            response: None,
            error: None,
            has_error: false,
            hook_error: Cow::Borrowed(""),
        }
    }
}

impl<'a> Output<'a, &'a str> {
    /// Reads the output members from an envelope.
    pub fn read(env: &Envelope<'a>) -> Result<Self, CodecError> {
        Ok(Output {
            context: env.get("context"),
            response: env.get("response"),
            error: env.get("error"),
            has_error: env.flag("has_error")?,
            hook_error: env.text("hook_error"),
        })
    }
}

impl<J: WriteJson> Output<'_, J> {
    /// Appends the output envelope to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(
            FRAME + len(&self.context) + len(&self.response) + len(&self.error) + self.hook_error.len(),
        );
        Writer::new(out)
            .json("context", &self.context)
            .json("response", &self.response)
            .json("error", &self.error)
            .flag("has_error", self.has_error)
            .text("hook_error", &self.hook_error)
            .end();
    }
}
