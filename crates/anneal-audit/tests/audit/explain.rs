//! Attributions: saliency and integrated gradients of a linear model against their closed
//! forms, IG's completeness on a nonlinear one, and faithfulness telling a decisive input
//! from random ones.

use anneal_audit::explain::{changed_by_removal, integrated_gradients, random_scores, saliency};
use anneal_engine::{Model, NamedTensor};
use anneal_spec::Program;

use super::attack::{mlp, program, tensor};

#[test]
fn a_linear_models_attributions_are_its_weights() {
    let w = tensor("layers.1.weight", vec![6, 2], 1);
    let b = tensor("layers.1.bias", vec![2], 2);
    let model = Model::new(&program("\"dense 2\""), &[w.clone(), b]).unwrap();
    let x = [0.5, -1.0, 2.0, 0.25, -0.5, 1.5];
    let x0 = [0.1; 6];
    let s = saliency(&model, &x, &[1]).unwrap();
    let ig = integrated_gradients(&model, &x, &x0, 1, 7).unwrap();
    for i in 0..6 {
        let wi = w.data[i * 2 + 1];
        assert!((s[i] - wi.abs()).abs() < 1e-6, "saliency {i}");
        let expected = (x[i] - x0[i]) * wi;
        assert!((ig.attributions[i] - expected).abs() < 1e-5, "IG {i}");
    }
    assert!(ig.completeness_gap.abs() < 1e-5, "{ig:?}");
}

#[test]
fn integrated_gradients_are_complete_up_to_the_stated_gap() {
    let model = mlp();
    let x = [0.9, -0.4, 1.3, 0.2, -1.1, 0.6];
    let ig = integrated_gradients(&model, &x, &[0.0; 6], 0, 50).unwrap();
    let sum: f32 = ig.attributions.iter().sum();
    assert!((sum - ig.output_difference - ig.completeness_gap).abs() < 1e-6);
    assert!(
        ig.output_difference.abs() > 0.05,
        "a flat path tests nothing: {ig:?}"
    );
    assert!(
        ig.completeness_gap.abs() < 0.01 * ig.output_difference.abs(),
        "50 steps leave a gap of {} on {}",
        ig.completeness_gap,
        ig.output_difference
    );
    // Fewer steps, a larger gap: the figure measures the path's discretisation.
    let coarse = integrated_gradients(&model, &x, &[0.0; 6], 0, 2).unwrap();
    assert!(coarse.completeness_gap.abs() >= ig.completeness_gap.abs());
}

/// Class 1 when input 0 is above 0, whatever the rest (tiny weights elsewhere).
fn decided_by_input_zero() -> (Model, Program) {
    let mut w = vec![0.001f32; 12];
    w[0] = -5.0;
    w[1] = 5.0;
    let weight = NamedTensor {
        name: "layers.1.weight".into(),
        shape: vec![6, 2],
        data: w,
    };
    let bias = NamedTensor {
        name: "layers.1.bias".into(),
        shape: vec![2],
        data: vec![0.0, 0.0],
    };
    let p = program("\"dense 2\"");
    (Model::new(&p, &[weight, bias]).unwrap(), p)
}

#[test]
fn removing_the_decisive_input_flips_what_removing_random_ones_does_not() {
    let (model, _) = decided_by_input_zero();
    let n = 50;
    let x: Vec<f32> = (0..n * 6)
        .map(|i| if i % 6 == 0 { 1.0 } else { 0.3 })
        .collect();
    let predicted = vec![1u32; n];
    let mut ig = Vec::new();
    for row in x.chunks(6) {
        ig.extend(
            integrated_gradients(&model, row, &[0.0; 6], 1, 10)
                .unwrap()
                .attributions,
        );
    }
    let baseline = [-1.0; 6];
    let by_ig = changed_by_removal(&model, (&x, &predicted), &ig, &baseline, 0.1).unwrap();
    let random = random_scores(n * 6, 3);
    let by_chance = changed_by_removal(&model, (&x, &predicted), &random, &baseline, 0.1).unwrap();
    assert_eq!(by_ig, 1.0);
    assert!(
        by_chance < 0.4,
        "one input of six removed at random: {by_chance}"
    );
}
