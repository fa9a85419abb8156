//! Namespace scope tracking (Namespaces in XML 1.0) for the reader.
//!
//! We resolve prefixes ourselves on top of rxml's `RawParser` instead of
//! using its namespace-resolving `Parser`, because the latter hands out
//! attributes in a sorted map: document order would be lost, and limits on
//! attributes could only be checked after the whole start tag was read.
//! rxml's raw parser already rejects binding the reserved `xml`/`xmlns`
//! prefixes and names and undeclaring prefixes; the rest is done here.

use crate::NS_XML;
use crate::error::XmlError;

/// A stack of namespace declaration scopes, one frame per open element.
#[derive(Debug, Default)]
pub(crate) struct Scopes {
    /// All live bindings, innermost last. `None` is the default namespace;
    /// an empty URI for it means "no namespace" (`xmlns=''`).
    bindings: Vec<(Option<String>, String)>,
    /// For each open element, `bindings.len()` before its declarations.
    frames: Vec<usize>,
}

impl Scopes {
    /// Open a scope for an element and declare its namespace bindings.
    pub(crate) fn push(&mut self, decls: impl IntoIterator<Item = (Option<String>, String)>) {
        self.frames.push(self.bindings.len());
        self.bindings.extend(decls);
    }

    /// Close the innermost element's scope.
    pub(crate) fn pop(&mut self) {
        if let Some(len) = self.frames.pop() {
            self.bindings.truncate(len);
        }
    }

    /// Resolve an element prefix (`None`: the default namespace, `""` if
    /// none is declared).
    pub(crate) fn resolve(&self, prefix: Option<&str>) -> Result<&str, XmlError> {
        if prefix == Some("xml") {
            // Bound by definition (Namespaces in XML 1.0 §3).
            return Ok(NS_XML);
        }
        self.bindings
            .iter()
            .rev()
            .find(|(p, _)| p.as_deref() == prefix)
            .map(|(_, uri)| uri.as_str())
            .or(if prefix.is_none() { Some("") } else { None })
            .ok_or_else(|| {
                XmlError::BadNamespacePrefix(format!("undeclared namespace prefix '{}'", prefix.unwrap_or_default()))
            })
    }

    /// The attribute key (see [`Element`](crate::Element)) for an attribute
    /// name. Unprefixed attributes are in no namespace, not the default one
    /// (Namespaces in XML 1.0 §6.2).
    pub(crate) fn attr_key(&self, prefix: Option<&str>, local: &str) -> Result<String, XmlError> {
        let Some(prefix) = prefix else {
            return Ok(local.to_owned());
        };
        let uri = self.resolve(Some(prefix))?;
        Ok(if uri == NS_XML && local == "lang" { "xml:lang".to_owned() } else { format!("{{{uri}}}{local}") })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scoping() {
        let mut s = Scopes::default();
        assert_eq!(s.resolve(None).unwrap(), "");
        s.push([(None, "jabber:client".into()), (Some("stream".into()), "s".into())]);
        s.push([(Some("p".into()), "urn:p".into()), (None, "".into())]);
        assert_eq!(s.resolve(None).unwrap(), "");
        assert_eq!(s.resolve(Some("p")).unwrap(), "urn:p");
        assert_eq!(s.resolve(Some("stream")).unwrap(), "s");
        assert_eq!(s.attr_key(Some("p"), "a").unwrap(), "{urn:p}a");
        assert_eq!(s.attr_key(Some("xml"), "lang").unwrap(), "xml:lang");
        assert_eq!(s.attr_key(None, "a").unwrap(), "a");
        s.pop();
        assert_eq!(s.resolve(None).unwrap(), "jabber:client");
        assert_eq!(s.resolve(Some("p")).unwrap_err().condition(), "bad-namespace-prefix");
        assert!(s.resolve(Some("xmlns")).is_err());
        s.pop();
        s.pop(); // popping an empty stack is harmless
    }
}
