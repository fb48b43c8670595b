use super::*;

/// Input: the context and the request (in one of the three shapes of [`crate::shape`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Input<J> {
    /// The request context.
    pub context: Option<J>,
    /// The request.
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

/// Output: the request to continue with, or a short-circuit that answers instead of the
/// provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output<'e, J> {
    /// The context, with the plugin's additions.
    pub context: Option<J>,
    /// The request to continue with (`null` = unchanged).
    pub request: Option<J>,
    /// The answer when `has_short_circuit`: `{"response": …}` or `{"error": …}`
    /// (`Response`/`Error` in Go's spelling; see [`crate::shape::ShortCircuitParts`]).
    pub short_circuit: Option<J>,
    /// True when the plugin answers instead of the provider.
    pub has_short_circuit: bool,
    /// Non-empty when the hook failed: Bifrost logs it and continues.
    pub error: Cow<'e, str>,
}

impl<J> Default for Output<'_, J> {
    fn default() -> Self {
        Output {
            context: None,
            request: None,
            short_circuit: None,
            has_short_circuit: false,
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
            short_circuit: env.get("short_circuit"),
            has_short_circuit: env.flag("has_short_circuit")?,
            error: env.text("error"),
        })
    }
}

impl<J: WriteJson> Output<'_, J> {
    /// Appends the output envelope to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        out.reserve(
            FRAME + len(&self.context) + len(&self.request) + len(&self.short_circuit) + self.error.len(),
        );
        Writer::new(out)
            .json("context", &self.context)
            .json("request", &self.request)
            .json("short_circuit", &self.short_circuit)
            .flag("has_short_circuit", self.has_short_circuit)
            .text("error", &self.error)
            .end();
    }
}
