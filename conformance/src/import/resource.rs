//! What an input file holds, as typed resources: `az … show` output (one
//! object, or an array of them), `az resource show`, an ARM template, or
//! `terraform show -json`.

use std::collections::BTreeMap;
use std::rc::Rc;

use gateway::config::Diagnostic;

use super::json::{self, Json, Value};
use super::{arm, terraform, Doc, Unmodelled};

/// The resource types an import understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    ApplicationGateway,
    PublicIp,
    /// `Microsoft.Cdn/profiles`: Front Door Standard/Premium.
    CdnProfile,
    OriginGroup,
    Origin,
    Endpoint,
    Route,
    /// `Microsoft.Network/frontDoors`: Front Door (classic).
    FrontDoorClassic,
    Other,
}

impl Kind {
    /// The kind of an ARM type name, compared without case (`az` prints
    /// `Microsoft.Cdn/profiles/origingroups`).
    pub fn of(type_name: &str) -> Kind {
        match type_name.to_ascii_lowercase().as_str() {
            "microsoft.network/applicationgateways" => Kind::ApplicationGateway,
            "microsoft.network/publicipaddresses" => Kind::PublicIp,
            "microsoft.cdn/profiles" => Kind::CdnProfile,
            "microsoft.cdn/profiles/origingroups" => Kind::OriginGroup,
            "microsoft.cdn/profiles/origingroups/origins" => Kind::Origin,
            "microsoft.cdn/profiles/afdendpoints" => Kind::Endpoint,
            "microsoft.cdn/profiles/afdendpoints/routes" => Kind::Route,
            "microsoft.network/frontdoors" => Kind::FrontDoorClassic,
            _ => Kind::Other,
        }
    }
}

/// One resource, in the ARM shape (Terraform blocks are reshaped to it).
#[derive(Debug, Clone)]
pub struct Resource {
    pub doc: Rc<Doc>,
    pub kind: Kind,
    pub type_name: String,
    /// The `type` value, for errors about the resource as a whole.
    pub type_at: Json,
    /// The full name (`profile/originGroup` for a template's child).
    pub name: String,
    /// The resource id, when the input has one.
    pub id: Option<String>,
    /// The properties: `properties`, or the object itself for the
    /// flattened output of `az network … show` and `az afd … show`.
    pub body: Json,
    /// The whole resource object (`sku`, `name`, …).
    pub root: Json,
}

impl Resource {
    /// The resource's own name: the last segment of a child's full name.
    pub fn short_name(&self) -> &str {
        super::last_segment(&self.name)
    }

    /// The name of its parent (`profile` for `profile/originGroup`), from
    /// the full name or the id.
    pub fn parent_name(&self) -> Option<String> {
        if let Some((parent, _)) = self.name.rsplit_once('/') {
            return Some(super::last_segment(parent).to_string());
        }
        let id = self.id.as_deref()?;
        let mut segments: Vec<&str> = id.trim_end_matches('/').split('/').collect();
        segments.pop();
        segments.pop();
        segments.pop().map(str::to_string)
    }
}

/// What one file gave.
#[derive(Debug)]
pub struct Read {
    pub resources: Vec<Resource>,
    /// Resources of types wsgate does not model, and Terraform attributes
    /// left out.
    pub unmodelled: Vec<Unmodelled>,
}

/// The sub-resource's properties: `properties`, or itself when flattened.
pub fn props(item: &Json) -> &Json {
    item.get("properties").unwrap_or(item)
}

/// Reads one file.
pub fn read(doc: &Rc<Doc>, params: &BTreeMap<String, String>) -> Result<Read, Vec<Diagnostic>> {
    let root = json::parse(&doc.text)
        .map_err(|e| vec![doc.error_at(e.offset, "(JSON)", format!("invalid JSON: {}", e.message))])?;
    let mut out = Read {
        resources: Vec::new(),
        unmodelled: Vec::new(),
    };
    let objects: Vec<Json> = match &root.value {
        Value::Array(items) => items.clone(),
        Value::Object(_) if arm::is_template(&root) => arm::evaluate(doc, &root, params)?,
        Value::Object(_) if terraform::is_terraform(&root) => {
            return terraform::read(doc, &root);
        }
        Value::Object(_) if root.get("type").is_some() => vec![root.clone()],
        _ => {
            return Err(vec![doc.error(
                &root,
                format!(
                    "expected `az … show` output (an object with `type`), an array of them, an ARM template \
                     (with `$schema` …deploymentTemplate.json) or `terraform show -json` output; found {}",
                    root.kind()
                ),
            )])
        }
    };
    let template = arm::is_template(&root);
    let mut errors = Vec::new();
    let mut others = Vec::new();
    for o in &objects {
        match resource(doc, o) {
            Ok(r) if r.kind == Kind::Other => {
                others.push(r.type_at.clone());
                out.unmodelled.push(Unmodelled {
                    file: doc.name.clone(),
                    line: doc.line_col(o.span.start).0,
                    at: format!("{}:{} {}", doc.name, doc.line_col(o.span.start).0, o.path),
                    what: format!("resource `{}` of type {}: not a gateway resource", r.name, r.type_name),
                });
            }
            Ok(r) => out.resources.push(r),
            Err(e) => errors.push(e),
        }
    }
    // `az … show` output with no gateway resource at all is the wrong
    // file, not a gateway with nothing to import.
    if !template && out.resources.is_empty() {
        for t in &others {
            errors.push(doc.error(
                t,
                format!(
                    "wrong resource type: expected {EXPECTED}, found {}",
                    t.as_str().unwrap_or_default()
                ),
            ));
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The resource types an import reads, for "expected …".
pub const EXPECTED: &str = "Microsoft.Network/applicationGateways, Microsoft.Cdn/profiles (and its originGroups, \
     origins, afdEndpoints/routes) or Microsoft.Network/frontDoors";

/// One resource object.
pub fn resource(doc: &Rc<Doc>, o: &Json) -> Result<Resource, Diagnostic> {
    if !matches!(o.value, Value::Object(_)) {
        return Err(doc.error(
            o,
            format!("expected a resource object with `type` and `name`, found {}", o.kind()),
        ));
    }
    let type_at = o.get("type").ok_or_else(|| {
        doc.error(
            o,
            "expected a resource object with `type` (such as Microsoft.Network/applicationGateways)",
        )
    })?;
    let type_name = type_at
        .as_str()
        .ok_or_else(|| {
            doc.error(
                type_at,
                format!("expected `type` to be a string, found {}", type_at.kind()),
            )
        })?
        .to_string();
    let name = match o.get("name") {
        Some(n) => n
            .as_str()
            .ok_or_else(|| doc.error(n, format!("expected `name` to be a string, found {}", n.kind())))?
            .to_string(),
        None => return Err(doc.error(o, format!("expected the {type_name} resource to have a `name`"))),
    };
    Ok(Resource {
        doc: Rc::clone(doc),
        kind: Kind::of(&type_name),
        type_name,
        type_at: type_at.clone(),
        name,
        id: o.get("id").and_then(Json::as_str).map(str::to_string),
        body: props(o).clone(),
        root: o.clone(),
    })
}

/// Finds the item of `array` a reference names, by the id's last segment.
pub fn find<'a>(array: Option<&'a Json>, reference: &str) -> Option<&'a Json> {
    let wanted = super::last_segment(reference);
    array?
        .as_array()
        .iter()
        .find(|item| item.get("name").and_then(Json::as_str) == Some(wanted))
}

/// The `id` of a `{ "id": … }` reference.
pub fn reference(value: Option<&Json>) -> Option<&Json> {
    let v = value?;
    match &v.value {
        Value::String(_) => Some(v),
        _ => v.get("id"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_ignore_case() {
        assert_eq!(Kind::of("Microsoft.Cdn/profiles/origingroups"), Kind::OriginGroup);
        assert_eq!(
            Kind::of("Microsoft.Network/applicationGateways"),
            Kind::ApplicationGateway
        );
        assert_eq!(Kind::of("Microsoft.Compute/virtualMachines"), Kind::Other);
    }

    #[test]
    fn parents_come_from_names_or_ids() {
        let doc = Doc::new("x", "{}");
        let j = json::parse(
            r#"{"type": "Microsoft.Cdn/profiles/originGroups/origins", "name": "o1",
            "id": "/subscriptions/s/resourceGroups/g/providers/Microsoft.Cdn/profiles/p/originGroups/og/origins/o1"}"#,
        )
        .unwrap();
        let r = resource(&doc, &j).unwrap();
        assert_eq!(r.parent_name().as_deref(), Some("og"));
        let j = json::parse(r#"{"type": "Microsoft.Cdn/profiles/originGroups", "name": "p/og"}"#).unwrap();
        assert_eq!(resource(&doc, &j).unwrap().parent_name().as_deref(), Some("p"));
    }

    #[test]
    fn a_file_that_is_no_resource_is_a_located_error() {
        let doc = Doc::new("x.json", "[1]");
        let e = read(&doc, &BTreeMap::new()).unwrap_err();
        assert_eq!(
            e[0].to_string(),
            "x.json:1:2: [0]: expected a resource object with `type` and `name`, found a number"
        );
        let doc = Doc::new("y.json", "{\"a\": ");
        let e = read(&doc, &BTreeMap::new()).unwrap_err();
        assert!(
            e[0].to_string()
                .starts_with("y.json:1:7: (JSON): invalid JSON: expected a JSON value"),
            "{}",
            e[0]
        );
    }
}
