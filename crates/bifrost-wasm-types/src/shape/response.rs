//! [`LlmResponse`]: a response in any of the three shapes.

use super::*;

/// A response (post_hook input/output, short-circuit response), kept as raw JSON in whichever
/// shape it arrived.
#[derive(Clone)]
pub struct LlmResponse {
    raw: RawJson,
    layout: OnceCell<ResponseLayout>,
}

impl LlmResponse {
    /// Wraps a raw response.
    pub fn new(raw: RawJson) -> Self {
        LlmResponse {
            raw,
            layout: OnceCell::new(),
        }
    }

    /// Wraps JSON text after validating it.
    pub fn from_json(json: &str) -> Result<Self, JsonError> {
        Ok(LlmResponse::new(RawJson::from_string(json.to_string())?))
    }

    /// Wraps a raw response whose members are already known (offsets relative to `raw`); see
    /// [`LlmRequest::from_indexed`].
    pub fn from_indexed<'a>(raw: RawJson, members: impl Iterator<Item = scan::Member<'a>>) -> Self {
        let layout = OnceCell::new();
        let object = raw.is_object();
        let _ = layout.set(detect_response_members(object.then_some(members)));
        LlmResponse { raw, layout }
    }

    /// A response carrying `chat`, in the response shape that answers a request of `shape`.
    pub fn from_chat(chat: &BifrostChatResponse, shape: RequestShape) -> Result<Self, JsonError> {
        let text = crate::raw::to_json_string(chat)?;
        Ok(LlmResponse::new(RawJson::from_string(wrap_chat_response(
            &text, shape,
        ))?))
    }

    /// A response built from the seed's typed [`BifrostResponse`], in the response shape that
    /// answers a request of `shape`.
    pub fn from_typed(response: &BifrostResponse, shape: RequestShape) -> Result<Self, JsonError> {
        match &response.chat_response {
            Some(chat) => LlmResponse::from_chat(chat, shape),
            None => match shape {
                RequestShape::GoEnvelope => LlmResponse::from_json(&wrap_chat_response("null", shape)),
                _ => LlmResponse::from_json("{}"),
            },
        }
    }

    fn layout(&self) -> &ResponseLayout {
        self.layout.get_or_init(|| detect_response(self.raw.as_str()))
    }

    /// The raw JSON.
    pub fn raw(&self) -> &RawJson {
        &self.raw
    }

    /// Consumes the response, returning its raw JSON.
    pub fn into_raw(self) -> RawJson {
        self.raw
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.raw.as_str()
    }

    /// Which shape it is in.
    pub fn shape(&self) -> ResponseShape {
        self.layout().shape
    }

    /// True when there is a chat response object inside.
    pub fn has_chat(&self) -> bool {
        self.layout().has_chat()
    }

    /// The kind of the response inside (the first member of a known kind holding an object;
    /// a bare object with `choices` is a chat completion), if any.
    pub fn kind(&self) -> Option<RequestKind> {
        self.layout().kind.as_ref().map(|(k, _)| k.clone())
    }

    /// True when the response inside sits in a stream member (`ResponsesStreamResponse`,
    /// `speech_stream_response`, ...): it is one event of a stream.
    pub fn is_stream_event(&self) -> bool {
        self.layout().kind.as_ref().is_some_and(|(_, stream)| *stream)
    }

    /// A response carrying `inner` (JSON text of a response of `kind`, or with `stream` a
    /// stream chunk of it), in the response shape that answers a request of `shape`.
    pub fn from_inner(
        inner: &str,
        kind: &RequestKind,
        shape: RequestShape,
        stream: bool,
    ) -> Result<Self, JsonError> {
        LlmResponse::from_json(&wrap_response(inner, kind, shape, stream))
    }

    /// Raw text of the response object inside, of whichever kind (see [`LlmResponse::kind`]).
    pub fn inner_raw(&self) -> Option<&str> {
        let layout = self.layout();
        layout.kind.as_ref()?;
        if let Some((start, end)) = layout.span {
            return self.raw.as_str().get(start..end);
        }
        match &layout.member {
            Some(m) => member_valid(self.raw.as_str(), m, false).map(|(_, v)| v),
            None => Some(self.raw.as_str()),
        }
    }

    /// Replaces the response object inside with `inner` (valid JSON text of the same kind),
    /// in place: the envelope and its other members stay as they are. Errors if there is none.
    pub fn set_inner_raw(&mut self, inner: &str) -> Result<(), JsonError> {
        let layout = self.layout().clone();
        if layout.kind.is_none() {
            return Err(JsonError("response has no inner response".into()));
        }
        self.layout = OnceCell::new();
        match layout.member {
            Some(m) => self.raw.set_path_raw(&[&m], inner),
            None => {
                self.raw = RawJson::from_string(inner.to_string())?;
                Ok(())
            }
        }
    }

    /// Raw text of the chat response object, if any.
    pub fn chat_raw(&self) -> Option<&str> {
        let layout = self.layout();
        if !layout.has_chat() {
            return None;
        }
        if let Some((start, end)) = layout.span {
            return self.raw.as_str().get(start..end);
        }
        match &layout.member {
            Some(m) => member_valid(self.raw.as_str(), m, false).map(|(_, v)| v),
            None => Some(self.raw.as_str()),
        }
    }

    /// Reads field `name` of the chat response into `T`.
    pub fn chat_field<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let (_, v) = member_valid(self.chat_raw()?, name, false)?;
        crate::reader::typed(v).ok()
    }

    /// Reads string field `name` of the chat response (`None` if absent or not a string),
    /// without going through serde.
    pub fn chat_field_str(&self, name: &str) -> Option<String> {
        let (_, v) = member_valid(self.chat_raw()?, name, false)?;
        scan::string_value(v).map(std::borrow::Cow::into_owned)
    }

    /// Sets field `name` of the chat response, splicing it in. Errors if there is none.
    pub fn set_chat_field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), JsonError> {
        let layout = self.layout();
        if !layout.has_chat() {
            return Err(JsonError("response has no chat response".into()));
        }
        let (span, member) = (layout.span, layout.member.clone());
        let text = crate::raw::to_json_string(value)?;
        self.layout = OnceCell::new();
        // The chat object's place is known: replace the member in one copy.
        if let Some((start, end)) = span {
            if self.raw.replace_member_in(start, end, name, &text) {
                return Ok(());
            }
        }
        match member {
            Some(m) => self.raw.set_path_trusted(&[&m, name], &text),
            None => self.raw.set_path_trusted(&[name], &text),
        }
    }

    /// The typed chat response, if there is one.
    pub fn chat(&self) -> Option<Result<BifrostChatResponse, JsonError>> {
        let raw = self.chat_raw()?;
        Some(crate::reader::typed(raw))
    }

    /// The seed's typed view: `BifrostResponse { chat_response }`.
    pub fn to_typed(&self) -> Result<BifrostResponse, JsonError> {
        Ok(BifrostResponse {
            chat_response: self.chat().transpose()?,
        })
    }

    /// Edits the chat response through its typed view; only what `f` changed is rewritten.
    pub fn edit_chat<R>(&mut self, f: impl FnOnce(&mut BifrostChatResponse) -> R) -> Result<R, JsonError> {
        let layout = self.layout().clone();
        let inner = self
            .chat_raw()
            .ok_or_else(|| JsonError("response has no chat response".into()))?;
        let mut inner = RawJson::trusted(inner);
        let result = inner.edit(f)?;
        self.layout = OnceCell::new();
        match layout.member {
            Some(m) => self.raw.set_path_raw(&[&m], inner.as_str())?,
            None => self.raw = inner,
        }
        Ok(result)
    }
}

impl fmt::Debug for LlmResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LlmResponse").field(&self.raw.as_str()).finish()
    }
}

impl PartialEq for LlmResponse {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Serialize for LlmResponse {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for LlmResponse {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawJson::deserialize(d).map(LlmResponse::new)
    }
}

impl crate::codec::WriteJson for LlmResponse {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
    }

    fn json_len(&self) -> usize {
        self.as_str().len()
    }
}
