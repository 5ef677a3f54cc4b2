//! int8 inference: the integer products compute what the quantization scheme defines, and a
//! quantized model predicts as its f32 model does, within the stated tolerance.

use anneal_engine::{Examples, Model, NoObserver, calibrate, train};
use anneal_spec::quant::QuantLayer;
use anneal_spec::{NamedTensor, Quantization, Scheme};

use super::{data, program, rgb_data, rgb_program};

fn quantization(layers: Vec<QuantLayer>) -> Quantization {
    Quantization {
        scheme: Scheme::Int8,
        calibration_examples: 0,
        f32_accuracy: 0.0,
        layers,
    }
}

/// One dense layer, worked by hand: quantize the input, sum in integers, scale back.
#[test]
fn a_dense_layer_computes_the_scheme_exactly() {
    let p = program(r#""flatten", "dense 3""#, "");
    let w: Vec<f32> = (0..108)
        .map(|i| ((i * 29 % 17) as f32 - 8.0) * 0.01)
        .collect();
    let weights = vec![
        NamedTensor {
            name: "layers.1.weight".into(),
            shape: vec![36, 3],
            data: w,
        },
        NamedTensor {
            name: "layers.1.bias".into(),
            shape: vec![3],
            data: vec![0.1, -0.2, 0.3],
        },
    ];
    let (x, _) = data(5);
    let c = calibrate(&p, &weights, &x).unwrap();
    let q = &c.layers[0];
    assert_eq!(q.layer, 1);
    let model = Model::new(&p, &c.weights).unwrap();
    let int8 = Model::new(&p, &c.weights)
        .unwrap()
        .quantized(Some(&quantization(c.layers.clone())))
        .unwrap();
    // By hand: the weights are already on their grid, the inputs are rounded to theirs.
    let w = &c.weights[0].data;
    for (e, img) in x.chunks(36).enumerate() {
        let logits: Vec<f32> = (0..3)
            .map(|o| {
                let dot: f32 = img
                    .iter()
                    .enumerate()
                    .map(|(i, v)| {
                        let xq = f32::from(q.quantize_input(*v)) - f32::from(q.input_zero_point);
                        xq * q.input_scale * w[i * 3 + o]
                    })
                    .sum();
                dot + c.weights[1].data[o]
            })
            .collect();
        let want = softmax(&logits);
        let got = int8.predict(img).unwrap();
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-5, "example {e}: {got:?} vs {want:?}");
        }
        // And the f32 model, on unrounded inputs, is close but not the same computation.
        let f = model.predict(img).unwrap();
        assert!(f.iter().zip(&got).all(|(a, b)| (a - b).abs() < 0.02));
    }
}

fn softmax(v: &[f32]) -> Vec<f32> {
    let m = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - m).exp()).collect();
    let s: f32 = e.iter().sum();
    e.iter().map(|x| x / s).collect()
}

/// Every layer kind around padded and strided convolutions on 3 channels (inputs that go
/// negative, so padding is the zero point, not 0); and batch norms after a convolution and a
/// dense layer, which int8 takes into their dequantization: int8 probabilities within 0.05 of
/// f32, at batch 1 and in batches, and the same classes nearly everywhere.
#[test]
fn a_quantized_model_predicts_as_its_f32_model() {
    for (layers, quantized) in [
        (
            r#""conv 8 3x3 pad 1", "relu", "maxpool 2", "batchnorm", "conv 8 2x2 stride 1 pad 1", "relu", "flatten", "dense 16", "relu", "dense 3""#,
            &[0, 4, 7, 9][..],
        ),
        (
            r#""conv 8 3x3 pad 1", "batchnorm", "relu", "maxpool 2", "flatten", "dense 16", "batchnorm", "relu", "dense 3""#,
            &[0, 5, 8][..],
        ),
    ] {
        quantized_model_predicts_as_its_f32_model(layers, quantized);
    }
}

fn quantized_model_predicts_as_its_f32_model(layers: &str, quantized: &[usize]) {
    let p = rgb_program(layers, "adam 0.01");
    let (x, y) = rgb_data(96);
    let t = train(&p, &Examples { x: &x, y: &y }, &mut NoObserver).unwrap();
    let c = calibrate(&p, &t.weights, &x[..32 * 108]).unwrap();
    assert_eq!(
        c.layers.iter().map(|l| l.layer).collect::<Vec<_>>(),
        quantized
    );
    assert!(
        c.layers[0].input_zero_point > 0,
        "the first input goes negative"
    );
    let f32_model = Model::new(&p, &t.weights).unwrap();
    let q = quantization(c.layers);
    let int8 = Model::new(&p, &c.weights)
        .unwrap()
        .quantized(Some(&q))
        .unwrap();
    let (f, batched) = (f32_model.predict(&x).unwrap(), int8.predict(&x).unwrap());
    let one_by_one: Vec<f32> = x
        .chunks(108)
        .flat_map(|e| int8.predict(e).unwrap())
        .collect();
    assert_eq!(
        batched, one_by_one,
        "{layers}: batch size changes no int8 result"
    );
    let worst = f
        .iter()
        .zip(&batched)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    assert!(
        worst < 0.05,
        "{layers}: int8 probabilities differ from f32 by {worst}"
    );
    let class = |p: &[f32]| {
        p.iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0
    };
    let agree = f
        .chunks(3)
        .zip(batched.chunks(3))
        .filter(|(a, b)| class(a) == class(b))
        .count();
    assert!(agree >= 94, "{layers}: {agree} of 96 classes agree");
}

#[test]
fn a_quantization_that_does_not_fit_is_refused() {
    let p = program(r#""flatten", "dense 3""#, "");
    let (x, y) = data(12);
    let t = train(&p, &Examples { x: &x, y: &y }, &mut NoObserver).unwrap();
    let mut c = calibrate(&p, &t.weights, &x).unwrap();
    let quantize = |layers| {
        Model::new(&p, &t.weights)
            .unwrap()
            .quantized(Some(&quantization(layers)))
    };
    c.layers[0].weight_scales.pop();
    let e = quantize(c.layers.clone()).unwrap_err().to_string();
    assert!(
        e.contains("layer 2") && e.contains("2 weight scales for 3"),
        "{e}"
    );
    c.layers[0].layer = 0;
    let e = quantize(c.layers).unwrap_err().to_string();
    assert!(e.contains("not a dense or conv layer"), "{e}");
    assert!(calibrate(&p, &t.weights, &x[..7]).is_err());
}
