//! [`LlmRequest`]: a `pre_hook` request in any of the three shapes.

use super::*;

/// The `request` of a `pre_hook`, kept as raw JSON, in whichever shape it arrived.
///
/// Passing it on costs nothing (the bytes are echoed); reading the provider or model parses
/// only as much as needed; edits are written back into the same shape.
#[derive(Clone)]
pub struct LlmRequest {
    raw: RawJson,
    layout: OnceCell<RequestLayout>,
}

impl LlmRequest {
    /// Wraps a raw request.
    pub fn new(raw: RawJson) -> Self {
        LlmRequest {
            raw,
            layout: OnceCell::new(),
        }
    }

    /// Wraps JSON text after validating it.
    pub fn from_json(json: &str) -> Result<Self, JsonError> {
        Ok(LlmRequest::new(RawJson::from_string(json.to_string())?))
    }

    /// Wraps a raw request whose members are already known (as [`crate::scan::Members`] or
    /// [`crate::codec::Envelope::children`] list them, offsets relative to `raw`): its shape
    /// is read from them without scanning the text again.
    pub fn from_indexed<'a>(raw: RawJson, members: impl Iterator<Item = scan::Member<'a>>) -> Self {
        let layout = OnceCell::new();
        let object = raw.is_object();
        let _ = layout.set(detect_request_members(object.then_some(members)));
        LlmRequest { raw, layout }
    }

    /// Builds a request of `shape` carrying the flat chat request `chat`.
    pub fn from_chat(
        chat: &BifrostChatRequest,
        shape: RequestShape,
        stream: bool,
    ) -> Result<Self, JsonError> {
        let flat = crate::raw::to_json_string(chat)?;
        Ok(LlmRequest::new(RawJson::from_string(wrap_chat_request(
            &flat, shape, stream,
        ))?))
    }

    fn layout(&self) -> &RequestLayout {
        self.layout.get_or_init(|| detect_request(self.raw.as_str()))
    }

    /// The raw JSON, as it will be written.
    pub fn raw(&self) -> &RawJson {
        &self.raw
    }

    /// Consumes the request, returning its raw JSON.
    pub fn into_raw(self) -> RawJson {
        self.raw
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        self.raw.as_str()
    }

    /// Which shape it arrived in.
    pub fn shape(&self) -> RequestShape {
        self.layout().shape
    }

    /// Which kind of request it is.
    pub fn kind(&self) -> RequestKind {
        self.layout().kind.clone()
    }

    /// `RequestType` of a Go envelope (`chat_completion`, `chat_completion_stream`, ...).
    pub fn request_type(&self) -> Option<&str> {
        self.layout().request_type.as_deref()
    }

    /// True when the request is a chat completion.
    pub fn is_chat(&self) -> bool {
        self.layout().kind == RequestKind::Chat
    }

    /// Raw text of the inner (flat) request object: the envelope member, or the whole value.
    pub fn inner(&self) -> Option<&str> {
        let layout = self.layout();
        if let Some((start, end)) = layout.span {
            return self.raw.as_str().get(start..end);
        }
        match &layout.member {
            Some(m) => member_valid(self.raw.as_str(), m, false).map(|(_, v)| v),
            None if self.raw.is_object() => Some(self.raw.as_str()),
            None => None,
        }
    }

    /// Reads field `name` of the inner request into `T` (`None` if absent or of another type).
    pub fn field<T: DeserializeOwned>(&self, name: &str) -> Option<T> {
        let inner = self.inner()?;
        let (_, v) = member_valid(inner, name, false)?;
        crate::reader::typed(v).ok()
    }

    /// Reads string field `name` of the inner request (`None` if absent or not a string),
    /// without going through serde.
    pub fn field_str(&self, name: &str) -> Option<String> {
        if let Some(fields) = self.layout().flat_fields {
            let span = match name {
                "provider" => Some(fields.provider),
                "model" => Some(fields.model),
                _ => None,
            };
            if let Some(span) = span {
                let (start, end) = span?;
                return scan::string_value(self.raw.as_str().get(start..end)?)
                    .map(std::borrow::Cow::into_owned);
            }
        }
        let (_, v) = member_valid(self.inner()?, name, false)?;
        scan::string_value(v).map(std::borrow::Cow::into_owned)
    }

    /// `(provider, model)` of the request; empty strings when absent.
    pub fn get_provider_model(&self) -> (String, String) {
        (
            self.provider().unwrap_or_default(),
            self.model().unwrap_or_default(),
        )
    }

    /// The provider id.
    pub fn provider(&self) -> Option<String> {
        self.field_str("provider")
    }

    /// The model name.
    pub fn model(&self) -> Option<String> {
        self.field_str("model")
    }

    /// Sets field `name` of the inner request, splicing it in (everything else unchanged).
    pub fn set_field<T: Serialize + ?Sized>(&mut self, name: &str, value: &T) -> Result<(), JsonError> {
        let member = self.layout().member.clone();
        self.layout = OnceCell::new();
        match member {
            Some(m) => self.raw.set_path(&[&m, name], value),
            None => self.raw.set_path(&[name], value),
        }
    }

    /// The typed chat request, when this is a chat request.
    pub fn chat(&self) -> Option<Result<BifrostChatRequest, JsonError>> {
        if !self.is_chat() {
            return None;
        }
        let inner = self.inner()?;
        Some(crate::reader::typed(inner))
    }

    /// Edits the chat request through its typed view; only what `f` changed is rewritten,
    /// in the shape the request came in. Errors if this is not a chat request.
    pub fn edit_chat<R>(&mut self, f: impl FnOnce(&mut BifrostChatRequest) -> R) -> Result<R, JsonError> {
        if !self.is_chat() {
            return Err(JsonError(format!("not a chat request ({:?})", self.kind())));
        }
        let member = self.layout().member.clone();
        let inner = self
            .inner()
            .ok_or_else(|| JsonError("request has no chat request object".into()))?;
        let mut inner = RawJson::trusted(inner);
        let result = inner.edit(f)?;
        self.layout = OnceCell::new();
        match member {
            Some(m) => self.raw.set_path_raw(&[&m], inner.as_str())?,
            None => self.raw = inner,
        }
        Ok(result)
    }
}

impl fmt::Debug for LlmRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LlmRequest").field(&self.raw.as_str()).finish()
    }
}

impl PartialEq for LlmRequest {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Serialize for LlmRequest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de> Deserialize<'de> for LlmRequest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        RawJson::deserialize(d).map(LlmRequest::new)
    }
}

impl crate::codec::WriteJson for LlmRequest {
    fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.as_str().as_bytes());
    }

    fn json_len(&self) -> usize {
        self.as_str().len()
    }
}
