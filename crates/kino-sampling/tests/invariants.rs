//! Properties that need no reference: guidance, exact flows, noise, and misuse.

use candle_core::{Device, Tensor};
use kino_sampling::{
    Error, FlowEulerConfig, FlowEulerScheduler, FlowScheduler, FlowUniPcConfig, FlowUniPcScheduler,
    PredictionType, Scheduler, SchedulerConfig, SolverType, cfg, guidance_enabled, randn,
};
use kino_testkit::max_abs_diff;

fn latent(seed: u64) -> Tensor {
    randn(&[1, 4, 3, 4, 5], seed, &Device::Cpu).expect("noise")
}

#[test]
fn cfg_with_guidance_one_is_the_conditional_prediction() {
    let (cond, uncond) = (latent(1), latent(2));
    assert!(!guidance_enabled(1.0) && !guidance_enabled(0.5) && guidance_enabled(5.0));
    assert_eq!(
        max_abs_diff(&cfg(&cond, &uncond, 1.0).expect("cfg"), &cond),
        0.0
    );
    // At or below 1 the reference pipeline skips guidance altogether.
    assert_eq!(
        max_abs_diff(&cfg(&cond, &uncond, 0.5).expect("cfg"), &cond),
        0.0
    );
}

#[test]
fn cfg_extrapolates_from_the_unconditional_prediction() {
    let (cond, uncond) = (latent(1), latent(2));
    let guided = cfg(&cond, &uncond, 5.0).expect("cfg");
    let expected = ((&cond * 5.0).expect("mul") - (&uncond * 4.0).expect("mul")).expect("sub");
    assert!(max_abs_diff(&guided, &expected) < 1e-5);
    // Guidance changes nothing where both predictions agree.
    assert!(max_abs_diff(&cfg(&cond, &cond, 7.5).expect("cfg"), &cond) < 1e-6);
}

/// x_sigma = (1 - sigma) x0 + sigma noise, and the exact velocity noise - x0: a straight flow.
fn exact_flow_reaches_the_target(mut scheduler: impl Scheduler, steps: usize) -> f32 {
    let (x0, noise) = (latent(10), latent(11));
    scheduler.set_timesteps(steps).expect("steps > 0");
    let sigma0 = f64::from(scheduler.sigmas()[0]);
    let mut sample =
        ((&x0 * (1.0 - sigma0)).expect("mul") + (&noise * sigma0).expect("mul")).expect("add");
    let velocity = (&noise - &x0).expect("sub");
    for i in 0..steps {
        sample = scheduler.step(&velocity, i, &sample).expect("step");
    }
    max_abs_diff(&sample, &x0)
}

/// Video-to-video: a run that begins at step `begin` (0: the whole run), from the straight
/// flow's sample at that step's sigma, with a network that predicts x0 exactly.
fn exact_sample_from_step_reaches_the_target(
    mut scheduler: impl Scheduler,
    steps: usize,
    begin: usize,
) -> f32 {
    let (x0, noise) = (latent(10), latent(11));
    scheduler.set_timesteps(steps).expect("steps > 0");
    scheduler
        .set_begin_index(begin)
        .expect("inside the schedule");
    let sigma = f64::from(scheduler.sigmas()[begin]);
    let mut sample =
        ((&x0 * (1.0 - sigma)).expect("mul") + (&noise * sigma).expect("mul")).expect("add");
    for i in begin..steps {
        sample = scheduler.step(&x0, i, &sample).expect("step");
    }
    max_abs_diff(&sample, &x0)
}

/// The same straight flow with a network that predicts x0 exactly (`prediction_type` "sample").
fn exact_sample_reaches_the_target(scheduler: impl Scheduler, steps: usize) -> f32 {
    exact_sample_from_step_reaches_the_target(scheduler, steps, 0)
}

#[test]
fn sample_prediction_reaches_the_target_with_both_schedulers() {
    let mut unipc = FlowUniPcConfig::wan_2_1();
    unipc.prediction_type = PredictionType::Sample;
    let euler = FlowEulerConfig::like_unipc(&unipc);
    assert_eq!(euler.prediction_type, PredictionType::Sample);
    for steps in [1, 2, 7, 20] {
        let u = exact_sample_reaches_the_target(
            FlowUniPcScheduler::new(unipc.clone()).expect("valid"),
            steps,
        );
        let e = exact_sample_reaches_the_target(
            FlowEulerScheduler::new(euler.clone()).expect("valid"),
            steps,
        );
        assert!(u < 1e-5 && e < 1e-5, "{steps} steps: unipc {u}, euler {e}");
    }
    let json = r#"{"_class_name": "UniPCMultistepScheduler", "prediction_type": "sample", "use_flow_sigmas": true, "flow_shift": 3.0}"#;
    match SchedulerConfig::from_json(json).expect("parses") {
        SchedulerConfig::UniPc(c) => assert_eq!(c.prediction_type, PredictionType::Sample),
        other => panic!("{other:?}"),
    }
}

#[test]
fn euler_with_the_exact_velocity_reaches_the_target() {
    for steps in [1, 2, 7, 50] {
        let scheduler = FlowEulerScheduler::new(FlowEulerConfig {
            num_train_timesteps: 1000,
            shift: 3.0,
            prediction_type: PredictionType::FlowPrediction,
            stochastic_sampling: false,
        })
        .expect("valid");
        let err = exact_flow_reaches_the_target(scheduler, steps);
        assert!(err < 1e-5, "{steps} steps: {err}");
    }
}

/// A stochastic Euler step: `(1 - s_next) x0 + s_next z` with `x0` the network's clean
/// estimate and `z` fresh standard-normal noise drawn from the scheduler's seed and the step.
#[test]
fn stochastic_euler_renoises_the_clean_estimate_with_seeded_noise() {
    let config = FlowEulerConfig {
        num_train_timesteps: 1000,
        shift: 3.0,
        prediction_type: PredictionType::Sample,
        stochastic_sampling: true,
    };
    let steps = 4;
    let run = |seed: u64| -> Vec<Tensor> {
        let mut scheduler = FlowEulerScheduler::new(config.clone()).expect("valid");
        scheduler.set_timesteps(steps).expect("steps");
        scheduler.set_noise_seed(seed);
        let x0 = randn(&[1, 4, 8, 16, 16], 10, &Device::Cpu).expect("noise");
        let mut sample = randn(&[1, 4, 8, 16, 16], 11, &Device::Cpu).expect("noise");
        let mut trail = Vec::new();
        for i in 0..steps {
            sample = scheduler.step(&x0, i, &sample).expect("step");
            trail.push(sample.clone());
        }
        trail
    };
    let (a, b, c) = (run(7), run(7), run(8));
    let x0 = randn(&[1, 4, 8, 16, 16], 10, &Device::Cpu).expect("noise");
    let mut reference = FlowEulerScheduler::new(config.clone()).expect("valid");
    reference.set_timesteps(steps).expect("steps");
    let sigmas = reference.sigmas().to_vec();
    let mut noises = Vec::new();
    for i in 0..steps {
        assert_eq!(
            max_abs_diff(&a[i], &b[i]),
            0.0,
            "step {i}: same seed, same run"
        );
        let next = f64::from(sigmas[i + 1]);
        if next == 0.0 {
            // The last step lands on the clean estimate whatever the noise.
            assert!(max_abs_diff(&a[i], &x0) < 1e-6);
            assert!(max_abs_diff(&a[i], &c[i]) < 1e-6);
            continue;
        }
        // What is left after the clean part is sigma_next times standard-normal noise.
        let noise_of = |x: &Tensor| {
            ((x - (&x0 * (1.0 - next)).expect("mul")).expect("sub") / next).expect("div")
        };
        let noise = noise_of(&a[i]);
        assert!(
            max_abs_diff(&noise, &noise_of(&c[i])) > 1.0,
            "step {i}: another seed, other noise"
        );
        let values: Vec<f32> = noise
            .flatten_all()
            .expect("flat")
            .to_vec1()
            .expect("values");
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(
            mean.abs() < 0.05 && (var.sqrt() - 1.0).abs() < 0.05,
            "step {i}: mean {mean}, variance {var}"
        );
        noises.push(noise);
    }
    // The steps draw different noise from each other.
    assert!(max_abs_diff(&noises[0], &noises[1]) > 1.0);
}

#[test]
fn unipc_with_the_exact_velocity_reaches_the_target() {
    // The exact x0 at every step makes every UniPC correction term vanish.
    for (order, solver_type) in [
        (1, SolverType::Bh2),
        (2, SolverType::Bh2),
        (3, SolverType::Bh2),
        (2, SolverType::Bh1),
    ] {
        for steps in [1, 2, 7, 50] {
            let config = FlowUniPcConfig {
                solver_order: order,
                solver_type,
                ..FlowUniPcConfig::wan_2_1()
            };
            let err = exact_flow_reaches_the_target(
                FlowUniPcScheduler::new(config).expect("valid"),
                steps,
            );
            assert!(
                err < 1e-5,
                "order {order} {solver_type:?}, {steps} steps: {err}"
            );
        }
    }
}

#[test]
fn randn_is_deterministic_per_seed() {
    let a = randn(&[2, 3, 5], 42, &Device::Cpu).expect("noise");
    let b = randn(&[2, 3, 5], 42, &Device::Cpu).expect("noise");
    let c = randn(&[2, 3, 5], 43, &Device::Cpu).expect("noise");
    assert_eq!(a.dims(), &[2, 3, 5]);
    assert_eq!(max_abs_diff(&a, &b), 0.0);
    assert!(max_abs_diff(&a, &c) > 0.1);
    // An odd element count still comes out whole.
    assert_eq!(randn(&[7], 1, &Device::Cpu).expect("noise").dims(), &[7]);
}

#[test]
fn randn_is_standard_normal() {
    let n = 200_000;
    let values: Vec<f32> = randn(&[n], 7, &Device::Cpu)
        .expect("noise")
        .to_vec1()
        .expect("f32");
    let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64;
    let var = values
        .iter()
        .map(|&v| (f64::from(v) - mean).powi(2))
        .sum::<f64>()
        / n as f64;
    let within_one = values.iter().filter(|v| v.abs() < 1.0).count() as f64 / n as f64;
    // Standard errors: mean 0.0022, variance 0.0032, P(|z| < 1) 0.001; allow about 5 of them.
    assert!(mean.abs() < 0.012, "mean {mean}");
    assert!((var - 1.0).abs() < 0.016, "variance {var}");
    assert!(
        (within_one - 0.6827).abs() < 0.006,
        "P(|z| < 1) {within_one}"
    );
}

#[test]
fn steps_must_come_in_order_after_set_timesteps() {
    let mut s = FlowUniPcScheduler::new(FlowUniPcConfig::wan_2_1()).expect("valid");
    let x = latent(3);
    assert!(matches!(s.step(&x, 0, &x), Err(Error::NoTimesteps)));
    assert!(matches!(s.set_timesteps(0), Err(Error::ZeroSteps)));
    s.set_timesteps(2).expect("steps > 0");
    assert!(matches!(
        s.step(&x, 1, &x),
        Err(Error::StepOutOfOrder {
            expected: 0,
            got: 1
        })
    ));
    s.step(&x, 0, &x).expect("step 0");
    s.step(&x, 1, &x).expect("step 1");
    assert!(matches!(
        s.step(&x, 2, &x),
        Err(Error::StepPastEnd { step: 2, steps: 2 })
    ));
}

#[test]
fn set_timesteps_restarts_a_run() {
    let (x, v) = (latent(4), latent(5));
    let mut s =
        FlowScheduler::new(SchedulerConfig::UniPc(FlowUniPcConfig::wan_2_1())).expect("valid");
    let run = |s: &mut FlowScheduler| {
        s.set_timesteps(5).expect("steps > 0");
        let mut sample = x.clone();
        for i in 0..5 {
            let output = (&v + &sample).expect("add");
            sample = s.step(&output, i, &sample).expect("step");
        }
        sample
    };
    let first = run(&mut s);
    let second = run(&mut s);
    assert_eq!(max_abs_diff(&first, &second), 0.0);
}

#[test]
fn a_run_that_begins_part_way_reaches_the_target_with_both_schedulers() {
    let mut unipc = FlowUniPcConfig::wan_2_1();
    unipc.prediction_type = PredictionType::Sample;
    let euler = FlowEulerConfig::like_unipc(&unipc);
    for (steps, begin) in [(20, 0), (20, 8), (20, 19), (7, 3)] {
        let u = exact_sample_from_step_reaches_the_target(
            FlowUniPcScheduler::new(unipc.clone()).expect("valid"),
            steps,
            begin,
        );
        let e = exact_sample_from_step_reaches_the_target(
            FlowEulerScheduler::new(euler.clone()).expect("valid"),
            steps,
            begin,
        );
        assert!(
            u < 1e-5 && e < 1e-5,
            "{steps} steps from {begin}: unipc {u}, euler {e}"
        );
    }
}

#[test]
fn euler_begun_part_way_repeats_the_tail_of_a_whole_run() {
    let config = FlowEulerConfig {
        num_train_timesteps: 1000,
        shift: 3.0,
        prediction_type: PredictionType::FlowPrediction,
        stochastic_sampling: false,
    };
    let (steps, begin) = (10, 4);
    let velocity = |i: usize| latent(100 + i as u64);
    let mut whole = FlowEulerScheduler::new(config.clone()).expect("valid");
    whole.set_timesteps(steps).expect("steps");
    let mut sample = latent(20);
    let mut at_begin = None;
    for i in 0..steps {
        if i == begin {
            at_begin = Some(sample.clone());
        }
        sample = whole.step(&velocity(i), i, &sample).expect("step");
    }
    let mut tail = FlowEulerScheduler::new(config).expect("valid");
    tail.set_timesteps(steps).expect("steps");
    tail.set_begin_index(begin).expect("inside");
    assert_eq!(tail.step_index(), begin);
    let mut resumed = at_begin.expect("reached");
    for i in begin..steps {
        resumed = tail.step(&velocity(i), i, &resumed).expect("step");
    }
    assert_eq!(max_abs_diff(&resumed, &sample), 0.0);
}

#[test]
fn a_begin_index_outside_the_schedule_or_before_set_timesteps_is_refused() {
    let mut unipc = FlowUniPcScheduler::new(FlowUniPcConfig::wan_2_1()).expect("valid");
    assert!(matches!(unipc.set_begin_index(0), Err(Error::NoTimesteps)));
    unipc.set_timesteps(5).expect("steps");
    assert!(matches!(
        unipc.set_begin_index(5),
        Err(Error::StepPastEnd { step: 5, steps: 5 })
    ));
    unipc.set_begin_index(2).expect("inside");
    // The run goes on from the begin index, not from 0.
    let x = latent(1);
    assert!(matches!(
        unipc.step(&x, 0, &x),
        Err(Error::StepOutOfOrder {
            expected: 2,
            got: 0
        })
    ));
    let mut scheduler = FlowScheduler::new(SchedulerConfig::Euler(FlowEulerConfig::like_unipc(
        &FlowUniPcConfig::wan_2_1(),
    )))
    .expect("valid");
    scheduler.set_timesteps(5).expect("steps");
    assert!(scheduler.set_begin_index(9).is_err());
    scheduler.set_begin_index(4).expect("the last step");
}
