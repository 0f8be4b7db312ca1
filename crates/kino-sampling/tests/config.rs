//! Reading diffusers' scheduler_config.json: Wan's exact file, defaults, and clear refusals.

use std::path::Path;

use kino_sampling::{
    Error, FinalSigmas, FlowEulerConfig, FlowUniPcConfig, PredictionType, SchedulerConfig,
    SolverType,
};

fn wan_config_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sampling/wan2.1_t2v_1.3b_scheduler_config.json")
}

/// The field an `InvalidConfig` error names, or a panic saying what came instead.
fn field_of(result: Result<impl std::fmt::Debug, Error>) -> String {
    match result {
        Err(Error::InvalidConfig { field, .. }) => field,
        other => panic!("expected an InvalidConfig error, got {other:?}"),
    }
}

fn wan_json_with(key: &str, value: serde_json::Value) -> String {
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(wan_config_path()).expect("committed"))
            .expect("json");
    json[key] = value;
    json.to_string()
}

#[test]
fn wan_2_1_file_reads_as_the_preset() {
    let config = SchedulerConfig::from_file(&wan_config_path()).expect("Wan's config is supported");
    assert_eq!(config, SchedulerConfig::UniPc(FlowUniPcConfig::wan_2_1()));
    let text = std::fs::read_to_string(wan_config_path()).expect("committed");
    assert_eq!(
        FlowUniPcConfig::from_json(&text).expect("parses"),
        FlowUniPcConfig::wan_2_1()
    );
    // Deserialize is implemented too, with the same checks.
    let direct: FlowUniPcConfig = serde_json::from_str(&text).expect("parses");
    assert_eq!(direct, FlowUniPcConfig::wan_2_1());
}

#[test]
fn unknown_keys_are_ignored_and_missing_keys_take_diffusers_defaults() {
    let json = r#"{"_class_name": "UniPCMultistepScheduler", "prediction_type": "flow_prediction",
        "use_flow_sigmas": true, "some_future_key": [1, 2, 3]}"#;
    let SchedulerConfig::UniPc(c) = SchedulerConfig::from_json(json).expect("parses") else {
        panic!("expected UniPC")
    };
    // diffusers' defaults: order 2, bh2, lower_order_final, flow_shift 1.0, final sigma zero.
    assert_eq!(c.solver_order, 2);
    assert_eq!(c.solver_type, SolverType::Bh2);
    assert!(c.lower_order_final);
    assert_eq!(c.flow_shift, 1.0);
    assert_eq!(c.final_sigmas_type, FinalSigmas::Zero);
    assert_eq!(c.num_train_timesteps, 1000);
}

#[test]
fn wrong_values_name_their_field() {
    let cases = [
        ("solver_type", serde_json::json!("bh3")),
        ("prediction_type", serde_json::json!("epsilon")),
        ("final_sigmas_type", serde_json::json!("max")),
        ("timestep_spacing", serde_json::json!("cosine")),
        ("use_flow_sigmas", serde_json::json!(false)),
        ("predict_x0", serde_json::json!(false)),
        ("thresholding", serde_json::json!(true)),
        ("use_karras_sigmas", serde_json::json!(true)),
        ("use_dynamic_shifting", serde_json::json!(true)),
        ("solver_order", serde_json::json!(0)),
        ("flow_shift", serde_json::json!(-1.0)),
        ("_class_name", serde_json::json!("DDIMScheduler")),
    ];
    for (key, value) in cases {
        let result = SchedulerConfig::from_json(&wan_json_with(key, value.clone()));
        assert_eq!(field_of(result), key, "{key} = {value}");
    }
    let message =
        SchedulerConfig::from_json(&wan_json_with("solver_type", serde_json::json!("bh3")))
            .expect_err("bh3 is not a solver type")
            .to_string();
    assert!(
        message.contains("solver_type") && message.contains("bh3") && message.contains("bh2"),
        "{message}"
    );
}

#[test]
fn missing_prediction_type_means_epsilon_and_is_refused() {
    // diffusers defaults prediction_type to "epsilon": a file without it is not a flow model.
    let json = r#"{"_class_name": "UniPCMultistepScheduler", "use_flow_sigmas": true}"#;
    assert_eq!(
        field_of(SchedulerConfig::from_json(json)),
        "prediction_type"
    );
}

#[test]
fn solver_type_aliases_map_to_bh2_as_in_diffusers() {
    let config =
        FlowUniPcConfig::from_json(&wan_json_with("solver_type", serde_json::json!("midpoint")));
    assert_eq!(config.expect("alias").solver_type, SolverType::Bh2);
}

#[test]
fn a_last_step_of_infinite_size_is_refused() {
    // diffusers returns inf for this combination; we refuse it up front.
    let json = wan_json_with("lower_order_final", serde_json::json!(false));
    assert_eq!(
        field_of(SchedulerConfig::from_json(&json)),
        "lower_order_final"
    );
}

#[test]
fn wrong_json_types_name_their_field() {
    let result =
        SchedulerConfig::from_json(&wan_json_with("solver_order", serde_json::json!("two")));
    assert_eq!(field_of(result), "solver_order");
    let result = FlowUniPcConfig::from_json(&wan_json_with("flow_shift", serde_json::json!([3.0])));
    assert_eq!(field_of(result), "flow_shift");
    assert!(matches!(
        SchedulerConfig::from_json("{not json"),
        Err(Error::Json(_))
    ));
}

#[test]
fn euler_config_reads_from_diffusers_json() {
    let json =
        r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "shift": 5.0, "base_shift": 0.5}"#;
    let config = SchedulerConfig::from_json(json).expect("parses");
    assert_eq!(
        config,
        SchedulerConfig::Euler(FlowEulerConfig {
            num_train_timesteps: 1000,
            shift: 5.0,
            prediction_type: PredictionType::FlowPrediction,
            stochastic_sampling: false,
        })
    );
    let stochastic =
        r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "stochastic_sampling": true}"#;
    match SchedulerConfig::from_json(stochastic).expect("parses") {
        SchedulerConfig::Euler(c) => assert!(c.stochastic_sampling),
        other => panic!("{other:?}"),
    }
    let dynamic =
        r#"{"_class_name": "FlowMatchEulerDiscreteScheduler", "use_dynamic_shifting": true}"#;
    assert_eq!(
        field_of(SchedulerConfig::from_json(dynamic)),
        "use_dynamic_shifting"
    );
    assert_eq!(
        FlowEulerConfig::like_unipc(&FlowUniPcConfig::wan_2_1()),
        FlowEulerConfig {
            num_train_timesteps: 1000,
            shift: 3.0,
            prediction_type: PredictionType::FlowPrediction,
            stochastic_sampling: false,
        }
    );
}
