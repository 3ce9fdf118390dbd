#pragma once
// Coefficients of the Debye (uniform large-order) expansion of I_v, used by
// pdml/math/log_bessel.hpp. Generated exactly (rational arithmetic) from
//   u_0 = 1,  u_{k+1}(t) = t^2 (1 - t^2) u_k'(t) / 2 + (1/8) int_0^t (1 - 5 s^2) u_k(s) ds,
//   v_k(t) = u_k(t) + t (t^2 - 1) (u_{k-1}(t) / 2 + t u_{k-1}'(t))
// (DLMF 10.41.10-12), then rounded once to double. tests/math/test_log_bessel.cpp
// re-derives them in exact rational arithmetic and compares.
//
// Two derived families are stored instead of u_k and v_k, because they remove
// a logarithm and a cancellation from the hot path:
//   log(sum_k u_k(t) v^-k)      = sum_{k>=1} l_k(t) v^-k     (l_k: series logarithm)
//   (sum_k v_k v^-k) / (sum_k u_k v^-k) = 1 + (1 - t^2) sum_{k>=1} q_k(t) v^-k
// The factor (1 - t^2) divides every V/U coefficient exactly; dividing it out
// lets the ratio I_{v+1}/I_v be formed without cancellation near t = 1 (x << v).
// Each polynomial is even or odd in t; it is stored as t^m P(t^2), Horner in t^2.

#include "pdml/config.hpp"

namespace pdml {
namespace detail {
namespace debye {

/// Largest number of terms of each family stored here.
constexpr int kMaxTerms = 13;

// l_k(t) = t^k * debye_log_poly<k>(t^2): coefficients of log(sum_k u_k(t) / v^k) = sum_k l_k(t) / v^k.
template <int k>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly(double t2);
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<1>(double t2) {
  return 1.25000000000000000e-01 + t2 * (-2.08333333333333343e-01);
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<2>(double t2) {
  return 6.25000000000000000e-02 + t2 * (-3.75000000000000000e-01 + t2 * (3.12500000000000000e-01));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<3>(double t2) {
  return 6.51041666666666713e-02 + t2 * (-8.29687500000000022e-01 + t2 * (1.72656250000000000e+00 + t2 * (-9.59201388888888840e-01)));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<4>(double t2) {
  return 1.01562500000000000e-01 + t2 * (-2.21875000000000000e+00 + t2 * (8.29687500000000000e+00 + t2 * (-1.05937500000000000e+01 + t2 * (4.41406250000000000e+00))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<5>(double t2) {
  return 2.09570312499999994e-01 + t2 * (-6.98228236607142883e+00 + t2 * (4.05427517361111143e+01 + t2 * (-8.76933593750000000e+01 + t2 * (8.08837890625000000e+01 + t2 * (-2.69612630208333321e+01)))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<6>(double t2) {
  return 5.36458333333333370e-01 + t2 * (-2.53125000000000000e+01 + t2 * (2.09625000000000000e+02 + t2 * (-6.73625000000000000e+02 + t2 * (1.02164062500000000e+03 + t2 * (-7.37812500000000000e+02 + t2 * (2.04947916666666657e+02))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<7>(double t2) {
  return 1.63806588309151779e+00 + t2 * (-1.03975921630859375e+02 + t2 * (1.16082943725585938e+03 + t2 * (-5.14021127319335938e+03 + t2 * (1.13046595031738289e+04 + t2 * (-1.31847673645019531e+04 + t2 * (7.82489944458007812e+03 + t2 * (-1.86307129632859005e+03)))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<8>(double t2) {
  return 5.80981445312500000e+00 + t2 * (-4.77615234375000000e+02 + t2 * (6.90427636718750000e+03 + t2 * (-4.00904472656250000e+04 + t2 * (1.19071952636718750e+05 + t2 * (-1.98321806640625000e+05 + t2 * (1.87801901367187500e+05 + t2 * (-9.46030371093750000e+04 + t2 * (1.97089660644531250e+04))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<9>(double t2) {
  return 2.34751277499728737e+01 + t2 * (-2.42728853364424276e+03 + t2 * (4.40697858123779297e+04 + t2 * (-3.23875565770467103e+05 + t2 * (1.24012488214874268e+06 + t2 * (-2.75286921141815186e+06 + t2 * (3.68360913918558741e+06 + t2 * (-2.93519830146789551e+06 + t2 * (1.28439378499984741e+06 + t2 * (-2.37850700925897661e+05)))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<10>(double t2) {
  return 1.06467822265625003e+02 + t2 * (-1.35269956054687500e+04 + t2 * (3.01187023681640625e+05 + t2 * (-2.72746259179687500e+06 + t2 * (1.30264057973632812e+07 + t2 * (-3.68524147869140655e+07 + t2 * (6.51121477954101562e+07 + t2 * (-7.27488860058593750e+07 + t2 * (5.00277425207519531e+07 + t2 * (-1.93503590698242188e+07 + t2 * (3.22505984497070312e+06))))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<11>(double t2) {
  return 5.35640519510615945e+02 + t2 * (-8.20465657986677543e+04 + t2 * (2.19762475067181606e+06 + t2 * (-2.40119942841589451e+07 + t2 * (1.39535179172490597e+08 + t2 * (-4.87422412270940185e+08 + t2 * (1.08847036129070139e+09 + t2 * (-1.59467602467685890e+09 + t2 * (1.52859282964733791e+09 + t2 * (-9.24445055342487097e+08 + t2 * (3.20384038826233149e+08 + t2 * (-4.85430361857929006e+07)))))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<12>(double t2) {
  return 2.96073978678385402e+03 + t2 * (-5.38164052734375000e+05 + t2 * (1.70677045371093750e+07 + t2 * (-2.21216118064290375e+08 + t2 * (1.53394465522741699e+09 + t2 * (-6.46128017963085938e+09 + t2 * (1.76838799711787109e+10 + t2 * (-3.25403360027490234e+10 + t2 * (4.06816288632330322e+10 + t2 * (-3.41348225777968750e+10 + t2 * (1.84214266189013672e+10 + t2 * (-5.78294446241455078e+09 + t2 * (8.03186730890909791e+08))))))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<13>(double t2) {
  return 1.78372796889474776e+04 + t2 * (-3.79629186355563998e+06 + t2 * (1.40670288447022855e+08 + t2 * (-2.13256503363291740e+09 + t2 * (1.73703100856396637e+10 + t2 * (-8.66096341475212708e+10 + t2 * (2.83920568841289795e+11 + t2 * (-6.36666163048906494e+11 + t2 * (9.94814458001124390e+11 + t2 * (-1.08402012056104712e+12 + t2 * (8.08600469860325073e+11 + t2 * (-3.93948450551532471e+11 + t2 * (1.13024563355743454e+11 + t2 * (-1.44903286353517246e+10)))))))))))));
}
// q_k(t) = t^k * debye_ratio_poly<k>(t^2): V/U - 1 = (1 - t^2) sum_k q_k(t) / v^k, with U = sum u_k/v^k, V = sum v_k/v^k.
template <int k>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly(double t2);
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<1>(double /*t2*/) {
  return -5.00000000000000000e-01;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<2>(double t2) {
  return -1.25000000000000000e-01 + t2 * (6.25000000000000000e-01);
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<3>(double t2) {
  return -1.25000000000000000e-01 + t2 * (1.50000000000000000e+00 + t2 * (-1.87500000000000000e+00));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<4>(double t2) {
  return -1.95312500000000000e-01 + t2 * (4.14843750000000000e+00 + t2 * (-1.20859375000000000e+01 + t2 * (8.63281250000000000e+00)));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<5>(double t2) {
  return -4.06250000000000000e-01 + t2 * (1.33125000000000000e+01 + t2 * (-6.63750000000000000e+01 + t2 * (1.05937500000000000e+02 + t2 * (-5.29687500000000000e+01))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<6>(double t2) {
  return -1.04785156250000000e+00 + t2 * (4.88759765625000000e+01 + t2 * (-3.64884765625000000e+02 + t2 * (9.64626953125000000e+02 + t2 * (-1.05148925781250000e+03 + t2 * (4.04418945312500000e+02)))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<7>(double t2) {
  return -3.21875000000000000e+00 + t2 * (2.02500000000000000e+02 + t2 * (-2.09625000000000000e+03 + t2 * (8.08350000000000000e+03 + t2 * (-1.43029687500000000e+04 + t2 * (1.18050000000000000e+04 + t2 * (-3.68906250000000000e+03))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<8>(double t2) {
  return -1.14664611816406250e+01 + t2 * (9.35783294677734375e+02 + t2 * (-1.27691238098144531e+04 + t2 * (6.68227465515136719e+04 + t2 * (-1.69569892547607422e+05 + t2 * (2.24141045196533203e+05 + t2 * (-1.48673089447021484e+05 + t2 * (3.91244972229003906e+04)))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<9>(double t2) {
  return -4.64785156250000000e+01 + t2 * (4.77615234375000000e+03 + t2 * (-8.28513164062500000e+04 + t2 * (5.61266261718750000e+05 + t2 * (-1.90515124218750000e+06 + t2 * (3.56979251953125000e+06 + t2 * (-3.75603802734375000e+06 + t2 * (2.08126681640625000e+06 + t2 * (-4.73015185546875000e+05))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<10>(double t2) {
  return -2.11276149749755859e+02 + t2 * (2.67001738700866699e+04 + t2 * (-5.72907215560913086e+05 + t2 * (4.85813348655700684e+06 + t2 * (-2.10821229965286255e+07 + t2 * (5.23045150169448853e+07 + t2 * (-7.73557919228973389e+07 + t2 * (6.75095609337615967e+07 + t2 * (-3.21098446249961853e+07 + t2 * (6.42196892499923706e+06)))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<11>(double t2) {
  return -1.06467822265625000e+03 + t2 * (1.62323947265625000e+05 + t2 * (-4.21661833154296875e+06 + t2 * (4.36394014687500000e+07 + t2 * (-2.34475304352539062e+08 + t2 * (7.37048295738281250e+08 + t2 * (-1.43246725149902344e+09 + t2 * (1.74597326414062500e+09 + t2 * (-1.30072130553955078e+09 + t2 * (5.41810053955078125e+08 + t2 * (-9.67517953491210938e+07))))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<12>(double t2) {
  return -5.89204571461677551e+03 + t2 * (1.06660535538268089e+06 + t2 * (-3.29643712600772381e+07 + t2 * (4.08203902830702066e+08 + t2 * (-2.65116840427732134e+09 + t2 * (1.02358706576897449e+10 + t2 * (-2.50348183096861305e+10 + t2 * (3.98669006169214783e+10 + t2 * (-4.12720064004781265e+10 + t2 * (2.68089066049321251e+10 + t2 * (-9.93190520361322784e+09 + t2 * (1.60192019413116574e+09)))))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<13>(double t2) {
  return -3.55288774414062500e+04 + t2 * (7.53429673828125000e+06 + t2 * (-2.73083272593750000e+08 + t2 * (3.98189012515722656e+09 + t2 * (-3.06788931045483398e+10 + t2 * (1.42148163951878906e+11 + t2 * (-4.24413119308289062e+11 + t2 * (8.46048736071474609e+11 + t2 * (-1.13908560817052490e+12 + t2 * (1.02404467733390625e+12 + t2 * (-5.89485651804843750e+11 + t2 * (1.96620111722094727e+11 + t2 * (-2.89147223120727539e+10))))))))))));
}
// q_k'(t) = t^(k-1) * debye_ratio_deriv_poly<k>(t^2).
template <int k>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly(double t2);
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<1>(double /*t2*/) {
  return -5.00000000000000000e-01;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<2>(double t2) {
  return -2.50000000000000000e-01 + t2 * (2.50000000000000000e+00);
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<3>(double t2) {
  return -3.75000000000000000e-01 + t2 * (7.50000000000000000e+00 + t2 * (-1.31250000000000000e+01));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<4>(double t2) {
  return -7.81250000000000000e-01 + t2 * (2.48906250000000000e+01 + t2 * (-9.66875000000000000e+01 + t2 * (8.63281250000000000e+01)));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<5>(double t2) {
  return -2.03125000000000000e+00 + t2 * (9.31875000000000000e+01 + t2 * (-5.97375000000000000e+02 + t2 * (1.16531250000000000e+03 + t2 * (-6.88593750000000000e+02))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<6>(double t2) {
  return -6.28710937500000000e+00 + t2 * (3.91007812500000000e+02 + t2 * (-3.64884765625000000e+03 + t2 * (1.15755234375000000e+04 + t2 * (-1.47208496093750000e+04 + t2 * (6.47070312500000000e+03)))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<7>(double t2) {
  return -2.25312500000000000e+01 + t2 * (1.82250000000000000e+03 + t2 * (-2.30587500000000000e+04 + t2 * (1.05085500000000000e+05 + t2 * (-2.14544531250000000e+05 + t2 * (2.00685000000000000e+05 + t2 * (-7.00921875000000000e+04))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<8>(double t2) {
  return -9.17316894531250000e+01 + t2 * (9.35783294677734375e+03 + t2 * (-1.53229485717773438e+05 + t2 * (9.35518451721191406e+05 + t2 * (-2.71311828076171875e+06 + t2 * (4.03453881353759766e+06 + t2 * (-2.97346178894042969e+06 + t2 * (8.60738938903808594e+05)))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<9>(double t2) {
  return -4.18306640625000000e+02 + t2 * (5.25376757812500000e+04 + t2 * (-1.07706711328125000e+06 + t2 * (8.41899392578125000e+06 + t2 * (-3.23875711171875000e+07 + t2 * (6.78260578710937500e+07 + t2 * (-7.88767985742187500e+07 + t2 * (4.78691367773437500e+07 + t2 * (-1.18253796386718750e+07))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<10>(double t2) {
  return -2.11276149749755859e+03 + t2 * (3.20402086441040039e+05 + t2 * (-8.02070101785278320e+06 + t2 * (7.77301357849121094e+07 + t2 * (-3.79478213937515259e+08 + t2 * (1.04609030033889771e+09 + t2 * (-1.70182742230374146e+09 + t2 * (1.62022946241027832e+09 + t2 * (-8.34855960249900818e+08 + t2 * (1.79815129899978638e+08)))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<11>(double t2) {
  return -1.17114604492187500e+04 + t2 * (2.11021131445312500e+06 + t2 * (-6.32492749731445312e+07 + t2 * (7.41869824968750000e+08 + t2 * (-4.45503078269824219e+09 + t2 * (1.54780142105039062e+10 + t2 * (-3.29467467844775391e+10 + t2 * (4.36493316035156250e+10 + t2 * (-3.51194752495678711e+10 + t2 * (1.57124915646972656e+10 + t2 * (-2.99930565582275391e+09))))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<12>(double t2) {
  return -7.07045485754013062e+04 + t2 * (1.49324749753575325e+07 + t2 * (-5.27429940161235809e+08 + t2 * (7.34767025095263672e+09 + t2 * (-5.30233680855464249e+10 + t2 * (2.25189154469174377e+11 + t2 * (-6.00835639432467163e+11 + t2 * (1.03653941603995837e+12 + t2 * (-1.15561617921338745e+12 + t2 * (8.04267198147963745e+11 + t2 * (-3.17820966515623291e+11 + t2 * (5.44652866004596329e+10)))))))))));
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<13>(double t2) {
  return -4.61875406738281250e+05 + t2 * (1.13014451074218750e+08 + t2 * (-4.64241563409375000e+09 + t2 * (7.56559123779873047e+10 + t2 * (-6.44256755195515137e+11 + t2 * (3.26940777089321484e+12 + t2 * (-1.06103279827072266e+13 + t2 * (2.28433158739298125e+13 + t2 * (-3.30334826369452227e+13 + t2 * (3.17453849973510938e+13 + t2 * (-1.94530265095598438e+13 + t2 * (6.88170391027331543e+12 + t2 * (-1.06984472554669189e+12))))))))))));
}

/// sum_{k=1}^{K} tau^(k-1) Poly<k>(t2), fully unrolled at compile time.
template <int K, int k = 1>
PDML_HOST_DEVICE PDML_FORCE_INLINE double log_series(double tau, double t2) {
  if constexpr (k == K) {
    return debye_log_poly<k>(t2);
  } else {
    return debye_log_poly<k>(t2) + tau * log_series<K, k + 1>(tau, t2);
  }
}
template <int K, int k = 1>
PDML_HOST_DEVICE PDML_FORCE_INLINE double ratio_series(double tau, double t2) {
  if constexpr (k == K) {
    return debye_ratio_poly<k>(t2);
  } else {
    return debye_ratio_poly<k>(t2) + tau * ratio_series<K, k + 1>(tau, t2);
  }
}
template <int K, int k = 1>
PDML_HOST_DEVICE PDML_FORCE_INLINE double ratio_deriv_series(double tau, double t2) {
  if constexpr (k == K) {
    return debye_ratio_deriv_poly<k>(t2);
  } else {
    return debye_ratio_deriv_poly<k>(t2) + tau * ratio_deriv_series<K, k + 1>(tau, t2);
  }
}

}  // namespace debye
}  // namespace detail
}  // namespace pdml
