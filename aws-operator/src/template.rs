//! The CloudFormation template model (pure): a template is typed Rust
//! values, never text with holes. Each resource kind is a struct of its
//! properties ([`Properties`] names its CloudFormation type), every value
//! that CloudFormation computes is an [`Expr`] (`Ref`, `Fn::GetAtt`, …),
//! and [`Template::body`] writes the JSON CloudFormation reads.
//!
//! [`Template::hash`] is what decides whether a stack needs an update: the
//! same values give the same body (maps are ordered) and so the same hash.
//!
//! Nothing here knows a cluster; [`crate::guest_stack`] builds one.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// A template that could not be written: a property type whose
/// serialization failed (a bug, not input).
#[derive(Debug, thiserror::Error)]
#[error("writing resource {logical} of the template: {source}")]
pub struct TemplateError {
    logical: String,
    #[source]
    source: serde_json::Error,
}

/// A value in a template: a literal, or an intrinsic function that
/// CloudFormation evaluates.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// A string.
    Str(String),
    /// A number.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A list.
    List(Vec<Expr>),
    /// `Ref`: a parameter's value or a resource's id.
    Ref(String),
    /// `Fn::GetAtt`: an attribute of a resource.
    GetAtt(String, String),
    /// `Fn::Select`: an item of a list.
    Select(usize, Box<Expr>),
    /// `Fn::Join`: strings joined by a delimiter.
    Join(String, Vec<Expr>),
    /// `Fn::Base64`.
    Base64(Box<Expr>),
}

impl Expr {
    fn to_json(&self) -> Value {
        match self {
            Expr::Str(s) => json!(s),
            Expr::Int(i) => json!(i),
            Expr::Bool(b) => json!(b),
            Expr::List(items) => Value::Array(items.iter().map(Expr::to_json).collect()),
            Expr::Ref(name) => json!({ "Ref": name }),
            Expr::GetAtt(name, attribute) => json!({ "Fn::GetAtt": [name, attribute] }),
            Expr::Select(index, list) => {
                json!({ "Fn::Select": [index.to_string(), list.to_json()] })
            }
            Expr::Join(delimiter, items) => json!({
                "Fn::Join": [delimiter, items.iter().map(Expr::to_json).collect::<Vec<_>>()]
            }),
            Expr::Base64(value) => json!({ "Fn::Base64": value.to_json() }),
        }
    }
}

impl Serialize for Expr {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(serializer)
    }
}

impl From<&str> for Expr {
    fn from(s: &str) -> Self {
        Expr::Str(s.to_owned())
    }
}

impl From<String> for Expr {
    fn from(s: String) -> Self {
        Expr::Str(s)
    }
}

impl From<i64> for Expr {
    fn from(i: i64) -> Self {
        Expr::Int(i)
    }
}

impl From<bool> for Expr {
    fn from(b: bool) -> Self {
        Expr::Bool(b)
    }
}

/// `Ref` of a logical id (a resource or a parameter).
pub fn refer(logical: &str) -> Expr {
    Expr::Ref(logical.to_owned())
}

/// `Fn::GetAtt` of a resource's attribute.
pub fn attribute(logical: &str, name: &str) -> Expr {
    Expr::GetAtt(logical.to_owned(), name.to_owned())
}

/// A resource tag.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: Expr,
    /// Auto Scaling groups only: whether instances get the tag too.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagate_at_launch: Option<bool>,
}

/// Tags from key-value pairs.
pub fn tag_list(pairs: &[(String, String)]) -> Vec<Tag> {
    pairs
        .iter()
        .map(|(k, v)| Tag {
            key: k.clone(),
            value: Expr::Str(v.clone()),
            propagate_at_launch: None,
        })
        .collect()
}

/// The properties of one kind of resource.
pub trait Properties: Serialize {
    /// Its CloudFormation type, e.g. `AWS::EC2::VPC`.
    const TYPE: &'static str;
}

#[derive(Clone, Debug, PartialEq)]
struct Parameter {
    type_: String,
    description: String,
}

#[derive(Clone, Debug, PartialEq)]
struct Resource {
    type_: &'static str,
    properties: Value,
    depends_on: Vec<String>,
    update_policy: Option<Value>,
}

#[derive(Clone, Debug, PartialEq)]
struct Output {
    description: String,
    value: Expr,
}

/// A CloudFormation template.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    format_version: &'static str,
    description: String,
    parameters: BTreeMap<String, Parameter>,
    resources: BTreeMap<String, Resource>,
    outputs: BTreeMap<String, Output>,
}

impl Template {
    /// An empty template described by `description`.
    pub fn new(description: impl Into<String>) -> Self {
        Self {
            format_version: "2010-09-09",
            description: description.into(),
            parameters: BTreeMap::new(),
            resources: BTreeMap::new(),
            outputs: BTreeMap::new(),
        }
    }

    /// Adds parameter `name`.
    pub fn parameter(&mut self, name: &str, type_: &str, description: &str) {
        self.parameters.insert(
            name.to_owned(),
            Parameter {
                type_: type_.to_owned(),
                description: description.to_owned(),
            },
        );
    }

    /// Adds resource `logical` made after `depends_on`.
    pub fn resource<P: Properties>(
        &mut self,
        logical: &str,
        properties: &P,
        depends_on: &[&str],
    ) -> Result<(), TemplateError> {
        let properties = serde_json::to_value(properties).map_err(|source| TemplateError {
            logical: logical.to_owned(),
            source,
        })?;
        self.resources.insert(
            logical.to_owned(),
            Resource {
                type_: P::TYPE,
                properties,
                depends_on: depends_on.iter().map(|&d| d.to_owned()).collect(),
                update_policy: None,
            },
        );
        Ok(())
    }

    /// Makes auto scaling group `logical` of `size` instances replace
    /// them one at a time when what they run changes, keeping the others
    /// in service. Nothing when there is no such resource.
    pub fn rolling_update(&mut self, logical: &str, size: usize) {
        if let Some(r) = self.resources.get_mut(logical) {
            r.update_policy = Some(json!({
                "AutoScalingRollingUpdate": {
                    "MinInstancesInService": size.saturating_sub(1).to_string(),
                    "MaxBatchSize": "1",
                }
            }));
        }
    }

    /// Adds output `name`.
    pub fn output(&mut self, name: &str, value: Expr, description: &str) {
        self.outputs.insert(
            name.to_owned(),
            Output {
                description: description.to_owned(),
                value,
            },
        );
    }

    /// The logical ids of the resources of `type_`.
    pub fn resources_of(&self, type_: &str) -> Vec<&str> {
        self.resources
            .iter()
            .filter(|(_, r)| r.type_ == type_)
            .map(|(k, _)| k.as_str())
            .collect()
    }

    /// The template as CloudFormation reads it (JSON).
    pub fn body(&self) -> String {
        // A `Template` holds only JSON values, strings and string-keyed
        // maps, which always serialize: `to_value` in `resource` already
        // turned every property type into a `Value`.
        Value::Object(self.to_map()).to_string()
    }

    fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::new();
        map.insert(
            "AWSTemplateFormatVersion".into(),
            json!(self.format_version),
        );
        map.insert("Description".into(), json!(self.description));
        if !self.parameters.is_empty() {
            let parameters = self.parameters.iter().map(|(k, p)| {
                let value = json!({ "Type": p.type_, "Description": p.description });
                (k.clone(), value)
            });
            map.insert("Parameters".into(), Value::Object(parameters.collect()));
        }
        let resources = self.resources.iter().map(|(k, r)| {
            let mut value = json!({ "Type": r.type_, "Properties": r.properties });
            if !r.depends_on.is_empty() {
                value["DependsOn"] = json!(r.depends_on);
            }
            if let Some(policy) = &r.update_policy {
                value["UpdatePolicy"] = policy.clone();
            }
            (k.clone(), value)
        });
        map.insert("Resources".into(), Value::Object(resources.collect()));
        if !self.outputs.is_empty() {
            let outputs = self.outputs.iter().map(|(k, o)| {
                let value = json!({ "Description": o.description, "Value": o.value.to_json() });
                (k.clone(), value)
            });
            map.insert("Outputs".into(), Value::Object(outputs.collect()));
        }
        map
    }

    /// The hash of the template with `parameters` (sorted): 16 hex digits
    /// of SHA-256. Equal inputs give equal hashes.
    pub fn hash(&self, parameters: &BTreeMap<String, String>) -> String {
        let mut digest = Sha256::new();
        digest.update(self.body().as_bytes());
        for (k, v) in parameters {
            digest.update([0]);
            digest.update(k.as_bytes());
            digest.update([0]);
            digest.update(v.as_bytes());
        }
        digest
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    #[serde(rename_all = "PascalCase")]
    struct Thing {
        name: Expr,
        count: i64,
    }

    impl Properties for Thing {
        const TYPE: &'static str = "Test::Thing";
    }

    fn template() -> Template {
        let mut t = Template::new("test");
        t.parameter("Zones", "List<AWS::EC2::AvailabilityZone::Name>", "zones");
        let thing = Thing {
            name: Expr::Select(1, Box::new(refer("Zones"))),
            count: 2,
        };
        t.resource("B", &thing, &["A"]).unwrap();
        t.output("Out", attribute("B", "Arn"), "the arn");
        t
    }

    #[test]
    fn writes_intrinsics_as_cloudformation_reads_them() {
        let body: Value = serde_json::from_str(&template().body()).unwrap();
        assert_eq!(body["AWSTemplateFormatVersion"], "2010-09-09");
        let b = &body["Resources"]["B"];
        assert_eq!(b["Type"], "Test::Thing");
        assert_eq!(b["DependsOn"], json!(["A"]));
        assert_eq!(
            b["Properties"]["Name"],
            json!({"Fn::Select": ["1", {"Ref": "Zones"}]})
        );
        assert_eq!(b["Properties"]["Count"], 2);
        assert_eq!(
            body["Outputs"]["Out"]["Value"],
            json!({"Fn::GetAtt": ["B", "Arn"]})
        );
        assert_eq!(template().resources_of("Test::Thing"), vec!["B"]);
    }

    #[test]
    fn the_hash_changes_with_the_template_and_the_parameters() {
        let p = BTreeMap::from([("Zones".to_owned(), "a,b".to_owned())]);
        assert_eq!(template().hash(&p), template().hash(&p));
        assert_eq!(template().hash(&p).len(), 16);
        let mut other = template();
        other.output("More", refer("B"), "more");
        assert_ne!(template().hash(&p), other.hash(&p));
        let q = BTreeMap::from([("Zones".to_owned(), "a,c".to_owned())]);
        assert_ne!(template().hash(&p), template().hash(&q));
    }
}
