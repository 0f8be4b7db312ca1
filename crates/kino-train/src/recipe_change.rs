//! Changing a resumed run's recipe: a fine-tune that continues a checkpoint with another loss
//! weight, learning rate or data mix (`kino train mini --resume --change FIELD=VALUE`). Only
//! fields that leave the checkpoint's tensors meaning what they meant may change; each change
//! is recorded in the checkpoint with the step it took effect at.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::recipe::Recipe;

/// Recipe fields a resumed run may change: the optimiser's schedule, the objective's weights,
/// the data mix and the decoder-only stage that follows the DiT. Everything else shapes the networks, their optimiser state, the world
/// the run learns or the noise stream, so a checkpoint would no longer match it.
pub const CHANGEABLE_FIELDS: &[&str] = &[
    "batch",
    "learning_rate",
    "warmup_steps",
    "weight_decay",
    "ema_decay",
    "flow_shift",
    "loss_sigma_floor",
    "foreground_weight",
    "foreground_from_step",
    "layout_spread",
    "region_spread",
    "one_object_share",
    "caption_dropout",
    "first_frame_share",
    "caption_parse_weight",
    "token_read_weight",
    "decoded_weight",
    "decoded_max_sigma",
    "decoded_clips",
    "guidance",
    "sample_steps",
    "decoder_polish",
];

/// Training-only heads that exist when their weight is above zero: a change may reweigh
/// them but not add or remove them, since the checkpoint holds exactly the heads it trained.
const HEAD_WEIGHTS: &[&str] = &["caption_parse_weight", "token_read_weight"];

/// One field of a run's recipe changed when it was resumed, as its checkpoint records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecipeChange {
    /// The first step trained with the new value (the checkpoint's step when it was resumed).
    pub from_step: usize,
    /// The recipe field.
    pub field: String,
    /// Its value before.
    pub before: Value,
    /// Its value from `from_step` on.
    pub after: Value,
}

/// Parses a command line's `FIELD=VALUE`: the value is read as JSON (`0.3`, `true`,
/// `null`), or else taken as a string.
pub fn parse_change(text: &str) -> Result<(String, Value), String> {
    let (field, value) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}` is not FIELD=VALUE (e.g. loss_sigma_floor=0.3)"))?;
    let field = field.trim();
    if field.is_empty() {
        return Err(format!("`{text}` names no recipe field before `=`"));
    }
    let value = serde_json::from_str(value.trim())
        .unwrap_or_else(|_| Value::String(value.trim().to_string()));
    Ok((field.to_string(), value))
}

/// `recipe` with `changes` applied from step `step` on, and the record of each change that
/// alters a value. A field that is unknown or not in [`CHANGEABLE_FIELDS`], a value of the
/// wrong type, a head turned on or off, or a recipe the changes make invalid is an error that
/// names the field.
pub fn apply_changes(
    recipe: &Recipe,
    changes: &[(String, Value)],
    step: usize,
) -> Result<(Recipe, Vec<RecipeChange>), String> {
    let mut fields = serde_json::to_value(recipe).map_err(|e| e.to_string())?;
    let known = fields
        .as_object_mut()
        .ok_or("a recipe is not a JSON object")?;
    let mut records = Vec::new();
    for (field, after) in changes {
        let Some(before) = known.get(field).cloned() else {
            return Err(format!("--change {field}: unknown recipe field `{field}`"));
        };
        if !CHANGEABLE_FIELDS.contains(&field.as_str()) {
            return Err(format!(
                "--change {field}: a resumed run cannot change `{field}` (its checkpoint was \
                 made with it); fields it can change: {}",
                CHANGEABLE_FIELDS.join(", ")
            ));
        }
        if HEAD_WEIGHTS.contains(&field.as_str()) {
            let on = |v: &Value| v.as_f64().is_some_and(|w| w > 0.0);
            if on(&before) != on(after) {
                return Err(format!(
                    "--change {field}: the run {} this head; a resumed run can reweigh it but \
                     not turn it on or off (its checkpoint holds exactly the heads it trained)",
                    if on(&before) {
                        "trains"
                    } else {
                        "does not train"
                    }
                ));
            }
        }
        known.insert(field.clone(), after.clone());
        records.retain(|r: &RecipeChange| r.field != *field);
        if before != *after {
            records.push(RecipeChange {
                from_step: step,
                field: field.clone(),
                before,
                after: after.clone(),
            });
        }
    }
    let changed: Recipe = serde_path_to_error::deserialize(fields)
        .map_err(|e| format!("--change {}: {}", e.path(), e.inner()))?;
    changed.validate()?;
    Ok((changed, records))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // in tests a failed unwrap is a failed test
    use super::*;
    use serde_json::json;

    fn change(field: &str, value: Value) -> Vec<(String, Value)> {
        vec![(field.to_string(), value)]
    }

    #[test]
    fn a_change_sets_only_its_field_and_records_before_and_after() {
        let recipe = Recipe::tiny();
        let (changed, records) =
            apply_changes(&recipe, &change("loss_sigma_floor", json!(0.3)), 5000).unwrap();
        assert_eq!(changed.loss_sigma_floor, 0.3);
        assert_eq!(
            Recipe {
                loss_sigma_floor: recipe.loss_sigma_floor,
                ..changed
            },
            recipe
        );
        assert_eq!(
            records,
            vec![RecipeChange {
                from_step: 5000,
                field: "loss_sigma_floor".into(),
                before: json!(recipe.loss_sigma_floor),
                after: json!(0.3),
            }]
        );
        // Setting a field to the value it has is no change.
        let same = change("batch", json!(recipe.batch));
        assert!(apply_changes(&recipe, &same, 3).unwrap().1.is_empty());
    }

    #[test]
    fn unknown_fixed_and_mistyped_fields_are_refused_by_name() {
        let recipe = Recipe::tiny();
        let unknown = apply_changes(&recipe, &change("loss_floor", json!(0.3)), 0).unwrap_err();
        assert!(
            unknown.contains("unknown recipe field `loss_floor`"),
            "{unknown}"
        );
        let fixed = apply_changes(&recipe, &change("dim", json!(256)), 0).unwrap_err();
        assert!(fixed.contains("cannot change `dim`"), "{fixed}");
        assert!(
            fixed.contains("loss_sigma_floor"),
            "lists what can change: {fixed}"
        );
        let mistyped = apply_changes(&recipe, &change("batch", json!("many")), 0).unwrap_err();
        assert!(mistyped.contains("batch"), "{mistyped}");
    }

    #[test]
    fn a_head_can_be_reweighed_but_not_added_or_removed() {
        let recipe = Recipe {
            caption_parse_weight: 0.5,
            ..Recipe::tiny()
        };
        let (changed, _) =
            apply_changes(&recipe, &change("caption_parse_weight", json!(1.0)), 0).unwrap();
        assert_eq!(changed.caption_parse_weight, 1.0);
        let off =
            apply_changes(&recipe, &change("caption_parse_weight", json!(0.0)), 0).unwrap_err();
        assert!(off.contains("not turn it on or off"), "{off}");
        let on = apply_changes(&recipe, &change("token_read_weight", json!(0.2)), 0).unwrap_err();
        assert!(on.contains("token_read_weight"), "{on}");
        assert!(on.contains("does not train this head"), "{on}");
    }

    #[test]
    fn command_line_changes_parse_as_json_or_else_as_text() {
        assert_eq!(
            parse_change("loss_sigma_floor=0.3").unwrap(),
            ("loss_sigma_floor".into(), json!(0.3))
        );
        assert_eq!(
            parse_change("region_spread=null").unwrap(),
            ("region_spread".into(), Value::Null)
        );
        assert_eq!(
            parse_change("name=plain text").unwrap(),
            ("name".into(), json!("plain text"))
        );
        assert!(
            parse_change("loss_sigma_floor")
                .unwrap_err()
                .contains("FIELD=VALUE")
        );
        assert!(
            parse_change("=1")
                .unwrap_err()
                .contains("names no recipe field")
        );
    }
}
