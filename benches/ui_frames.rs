//! UI frame cost: drives the app's real UI code headless (no window) with about 10⁶ logged
//! points across tasks, then with a training run feeding events, and prints the p50/p95 CPU
//! time per frame (layout + tessellation; GPU time is not included) as JSON lines, plus the
//! trainer's samples/s with the UI attached and without.
//!
//! Run: `cargo bench --bench ui_frames`

use std::io::Write as _;
use std::time::{Duration, Instant};

use mtl_studio::app::{AppState, MtlApp};
use mtl_studio::experiment::ExperimentSpec;
use mtl_studio::trainer::{
    EvalMetrics, RunOptions, Session, Split, StepMetrics, TaskEval, TrainerEvent,
};

fn frame(ctx: &egui::Context, app: &mut MtlApp, time: f64) -> f64 {
    let input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(
            egui::Pos2::ZERO,
            egui::vec2(1400.0, 900.0),
        )),
        time: Some(time),
        ..Default::default()
    };
    let started = Instant::now();
    let output = ctx.run_ui(input, |ui| app.show(ui));
    let primitives = ctx.tessellate(output.shapes, output.pixels_per_point);
    std::hint::black_box(primitives);
    started.elapsed().as_secs_f64() * 1000.0
}

fn percentiles(mut ms: Vec<f64>) -> (f64, f64) {
    ms.sort_by(f64::total_cmp);
    let at = |p: f64| ms[((ms.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95))
}

fn line(text: &str) {
    writeln!(std::io::stdout().lock(), "{text}").ok();
}

/// A finished run with 250,000 steps × (2 task losses + 2 weights) ≈ 10⁶ points.
fn fill_history(app: &mut MtlApp, spec: &ExperimentSpec) {
    let info = Session::new(spec).expect("default spec").info();
    let history = &mut app.history;
    history.apply(TrainerEvent::Started {
        run_id: 0,
        info: Box::new(info),
    });
    let steps = 250_000u64;
    for s in 1..=steps {
        let epoch = s as f64 / 150.0;
        let loss = (1.0 / (1.0 + epoch)) as f32;
        history.apply(TrainerEvent::Step(Box::new(StepMetrics {
            run_id: 0,
            step: s,
            epoch,
            task_losses: vec![loss, loss * 1.1],
            total_loss: loss * 2.1,
            task_weights: vec![1.0, 1.0],
            lr: 1e-3,
            samples_per_sec: 1e5,
            elapsed_secs: s as f64 / 1000.0,
            grad_norms: Some(vec![0.3, 0.4]),
            grad_cosines: Some((vec![1.0, 0.2, 0.2, 1.0], vec![1; 4])),
            arch: None,
            affinity: None,
            shards: 1,
        })));
        if s % 150 == 0 {
            for split in [Split::Train, Split::Val] {
                history.apply(TrainerEvent::Eval(EvalMetrics {
                    run_id: 0,
                    epoch: (s / 150) as usize,
                    step: s,
                    split,
                    tasks: vec![
                        TaskEval {
                            loss: f64::from(loss),
                            metric: 0.9,
                            all: vec![0.9, 0.1, 0.2],
                        };
                        2
                    ],
                }));
            }
        }
    }
}

fn main() {
    // As the app does: data-parallel training threads (a core left to the window),
    // single-threaded kernels.
    // SAFETY: the first statement of `main`: no other thread exists yet.
    #[expect(unsafe_code, reason = "see take_kernel_threads")]
    let threads = unsafe { mtl_studio::trainer::parallel::take_kernel_threads(true) };
    let spec = ExperimentSpec::default();
    let ctx = egui::Context::default();
    let mut app = MtlApp::new(
        &ctx,
        AppState {
            spec: spec.clone(),
            ..AppState::default()
        },
    );

    fill_history(&mut app, &spec);
    let mut time = 0.0;
    for _ in 0..10 {
        time += 1.0 / 60.0;
        frame(&ctx, &mut app, time);
    }
    let idle: Vec<f64> = (0..200)
        .map(|_| {
            time += 1.0 / 60.0;
            frame(&ctx, &mut app, time)
        })
        .collect();
    let (p50, p95) = percentiles(idle);
    line(&format!(
        r#"{{"case":"1e6 logged points","frames":200,"p50_ms":{p50:.2},"p95_ms":{p95:.2}}}"#
    ));

    // The app's small default model (trains on one thread), then the benchmark's reference
    // model (sharded over the training threads, so the UI competes with it for the cores).
    live_and_alone(&ctx, &mut app, &spec, "default model", &mut time, threads);
    live_and_alone(
        &ctx,
        &mut app,
        &mtl_studio::bench::reference_spec(100),
        "reference model",
        &mut time,
        threads,
    );
}

/// A live run of `spec`: the trainer thread feeds events while frames are drawn at 60 Hz;
/// then the same training without a UI, for comparison.
fn live_and_alone(
    ctx: &egui::Context,
    app: &mut MtlApp,
    spec: &ExperimentSpec,
    name: &str,
    time: &mut f64,
    threads: usize,
) {
    app.state.spec = spec.clone();
    app.start_run(RunOptions::default());
    // Rows trained and seconds spent stepping, from the run's own step events: fractional
    // epochs × training rows, and the trainer's stepping time (evaluation excluded).
    let progress = |app: &MtlApp| {
        let rows = app.history.info.as_ref().map_or(0, |i| i.train_rows) as f64;
        app.history
            .last_step
            .as_ref()
            .map(|m| (m.epoch * rows, m.elapsed_secs))
    };
    let mut live = Vec::new();
    let mut first = None;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(6) {
        let frame_start = Instant::now();
        *time += 1.0 / 60.0;
        live.push(frame(ctx, app, *time));
        if first.is_none() && started.elapsed() > Duration::from_secs(1) {
            first = progress(app);
        }
        if let Some(rest) = Duration::from_millis(16).checked_sub(frame_start.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let with_ui = match (first, progress(app)) {
        (Some((r0, t0)), Some((r1, t1))) if t1 > t0 => (r1 - r0) / (t1 - t0),
        _ => 0.0,
    };
    app.stop_run();
    std::thread::sleep(Duration::from_millis(300));
    let (p50, p95) = percentiles(live.clone());
    line(&format!(
        r#"{{"case":"training run attached","model":"{name}","frames":{},"p50_ms":{p50:.2},"p95_ms":{p95:.2},"trainer_samples_per_sec":{with_ui:.0}}}"#,
        live.len()
    ));

    let mut session = Session::new(spec).expect("session");
    session.set_diagnostics_every(mtl_studio::trainer::run::DIAGNOSTICS_EVERY);
    let started = Instant::now();
    let mut rows = 0;
    while started.elapsed() < Duration::from_secs(5) {
        rows += session.train_step().expect("step").rows;
    }
    let alone = rows as f64 / started.elapsed().as_secs_f64();
    line(&format!(
        r#"{{"case":"training alone","model":"{name}","trainer_samples_per_sec":{alone:.0},"threads":{threads}}}"#
    ));
}
