// SPDX-License-Identifier: MIT
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
constexpr int kMaxTerms = 20;

// l_k(t) = t^k * debye_log_poly<k>(t^2): coefficients of log(sum_k u_k(t) / v^k) = sum_k l_k(t) / v^k.
template <int k>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly(double t2);
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<1>(double t2) {
  double p = -2.08333333333333343e-01;
  p = p * t2 + 1.25000000000000000e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<2>(double t2) {
  double p = 3.12500000000000000e-01;
  p = p * t2 + -3.75000000000000000e-01;
  p = p * t2 + 6.25000000000000000e-02;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<3>(double t2) {
  double p = -9.59201388888888840e-01;
  p = p * t2 + 1.72656250000000000e+00;
  p = p * t2 + -8.29687500000000022e-01;
  p = p * t2 + 6.51041666666666713e-02;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<4>(double t2) {
  double p = 4.41406250000000000e+00;
  p = p * t2 + -1.05937500000000000e+01;
  p = p * t2 + 8.29687500000000000e+00;
  p = p * t2 + -2.21875000000000000e+00;
  p = p * t2 + 1.01562500000000000e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<5>(double t2) {
  double p = -2.69612630208333321e+01;
  p = p * t2 + 8.08837890625000000e+01;
  p = p * t2 + -8.76933593750000000e+01;
  p = p * t2 + 4.05427517361111143e+01;
  p = p * t2 + -6.98228236607142883e+00;
  p = p * t2 + 2.09570312499999994e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<6>(double t2) {
  double p = 2.04947916666666657e+02;
  p = p * t2 + -7.37812500000000000e+02;
  p = p * t2 + 1.02164062500000000e+03;
  p = p * t2 + -6.73625000000000000e+02;
  p = p * t2 + 2.09625000000000000e+02;
  p = p * t2 + -2.53125000000000000e+01;
  p = p * t2 + 5.36458333333333370e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<7>(double t2) {
  double p = -1.86307129632859005e+03;
  p = p * t2 + 7.82489944458007812e+03;
  p = p * t2 + -1.31847673645019531e+04;
  p = p * t2 + 1.13046595031738289e+04;
  p = p * t2 + -5.14021127319335938e+03;
  p = p * t2 + 1.16082943725585938e+03;
  p = p * t2 + -1.03975921630859375e+02;
  p = p * t2 + 1.63806588309151779e+00;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<8>(double t2) {
  double p = 1.97089660644531250e+04;
  p = p * t2 + -9.46030371093750000e+04;
  p = p * t2 + 1.87801901367187500e+05;
  p = p * t2 + -1.98321806640625000e+05;
  p = p * t2 + 1.19071952636718750e+05;
  p = p * t2 + -4.00904472656250000e+04;
  p = p * t2 + 6.90427636718750000e+03;
  p = p * t2 + -4.77615234375000000e+02;
  p = p * t2 + 5.80981445312500000e+00;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<9>(double t2) {
  double p = -2.37850700925897661e+05;
  p = p * t2 + 1.28439378499984741e+06;
  p = p * t2 + -2.93519830146789551e+06;
  p = p * t2 + 3.68360913918558741e+06;
  p = p * t2 + -2.75286921141815186e+06;
  p = p * t2 + 1.24012488214874268e+06;
  p = p * t2 + -3.23875565770467103e+05;
  p = p * t2 + 4.40697858123779297e+04;
  p = p * t2 + -2.42728853364424276e+03;
  p = p * t2 + 2.34751277499728737e+01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<10>(double t2) {
  double p = 3.22505984497070312e+06;
  p = p * t2 + -1.93503590698242188e+07;
  p = p * t2 + 5.00277425207519531e+07;
  p = p * t2 + -7.27488860058593750e+07;
  p = p * t2 + 6.51121477954101562e+07;
  p = p * t2 + -3.68524147869140655e+07;
  p = p * t2 + 1.30264057973632812e+07;
  p = p * t2 + -2.72746259179687500e+06;
  p = p * t2 + 3.01187023681640625e+05;
  p = p * t2 + -1.35269956054687500e+04;
  p = p * t2 + 1.06467822265625003e+02;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<11>(double t2) {
  double p = -4.85430361857929006e+07;
  p = p * t2 + 3.20384038826233149e+08;
  p = p * t2 + -9.24445055342487097e+08;
  p = p * t2 + 1.52859282964733791e+09;
  p = p * t2 + -1.59467602467685890e+09;
  p = p * t2 + 1.08847036129070139e+09;
  p = p * t2 + -4.87422412270940185e+08;
  p = p * t2 + 1.39535179172490597e+08;
  p = p * t2 + -2.40119942841589451e+07;
  p = p * t2 + 2.19762475067181606e+06;
  p = p * t2 + -8.20465657986677543e+04;
  p = p * t2 + 5.35640519510615945e+02;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<12>(double t2) {
  double p = 8.03186730890909791e+08;
  p = p * t2 + -5.78294446241455078e+09;
  p = p * t2 + 1.84214266189013672e+10;
  p = p * t2 + -3.41348225777968750e+10;
  p = p * t2 + 4.06816288632330322e+10;
  p = p * t2 + -3.25403360027490234e+10;
  p = p * t2 + 1.76838799711787109e+10;
  p = p * t2 + -6.46128017963085938e+09;
  p = p * t2 + 1.53394465522741699e+09;
  p = p * t2 + -2.21216118064290375e+08;
  p = p * t2 + 1.70677045371093750e+07;
  p = p * t2 + -5.38164052734375000e+05;
  p = p * t2 + 2.96073978678385402e+03;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<13>(double t2) {
  double p = -1.44903286353517246e+10;
  p = p * t2 + 1.13024563355743454e+11;
  p = p * t2 + -3.93948450551532471e+11;
  p = p * t2 + 8.08600469860325073e+11;
  p = p * t2 + -1.08402012056104712e+12;
  p = p * t2 + 9.94814458001124390e+11;
  p = p * t2 + -6.36666163048906494e+11;
  p = p * t2 + 2.83920568841289795e+11;
  p = p * t2 + -8.66096341475212708e+10;
  p = p * t2 + 1.73703100856396637e+10;
  p = p * t2 + -2.13256503363291740e+09;
  p = p * t2 + 1.40670288447022855e+08;
  p = p * t2 + -3.79629186355563998e+06;
  p = p * t2 + 1.78372796889474776e+04;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<14>(double t2) {
  double p = 2.83099178260830444e+11;
  p = p * t2 + -2.37803309739097607e+12;
  p = p * t2 + 9.00214080123280859e+12;
  p = p * t2 + -2.02744396720645234e+13;
  p = p * t2 + 3.02013615143257969e+13;
  p = p * t2 + -3.12861821081114414e+13;
  p = p * t2 + 2.30632491592614219e+13;
  p = p * t2 + -1.21668972951248086e+13;
  p = p * t2 + 4.55360319197352344e+12;
  p = p * t2 + -1.18064259589798096e+12;
  p = p * t2 + 2.03041114120921326e+11;
  p = p * t2 + -2.14985066234040527e+10;
  p = p * t2 + 1.22686121137994385e+09;
  p = p * t2 + -2.86615127933349609e+07;
  p = p * t2 + 1.16339246660505029e+05;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<15>(double t2) {
  double p = -5.95467114958369531e+12;
  p = p * t2 + 5.35920403462532578e+13;
  p = p * t2 + -2.18953691660166500e+14;
  p = p * t2 + 5.36843489094318750e+14;
  p = p * t2 + -8.79774777394467750e+14;
  p = p * t2 + 1.01562846447270525e+15;
  p = p * t2 + -8.47882684350369750e+14;
  p = p * t2 + 5.17110567289449062e+14;
  p = p * t2 + -2.29900443342745062e+14;
  p = p * t2 + 7.34823498626978125e+13;
  p = p * t2 + -1.64277954562500527e+13;
  p = p * t2 + 2.45251063943765723e+12;
  p = p * t2 + -2.26421038138771301e+11;
  p = p * t2 + 1.12924871992403793e+10;
  p = p * t2 + -2.30617077277275503e+08;
  p = p * t2 + 8.16737842191076721e+05;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<16>(double t2) {
  double p = 1.34165658190266125e+14;
  p = p * t2 + -1.28799031862655475e+15;
  p = p * t2 + 5.64858768075521900e+15;
  p = p * t2 + -1.49776810442378380e+16;
  p = p * t2 + 2.67812075684463440e+16;
  p = p * t2 + -3.40962578918888200e+16;
  p = p * t2 + 3.18072549807693600e+16;
  p = p * t2 + -2.20355005901765600e+16;
  p = p * t2 + 1.13643500209352300e+16;
  p = p * t2 + -4.33151798121404950e+15;
  p = p * t2 + 1.19901684265980325e+15;
  p = p * t2 + -2.33879392194313812e+14;
  p = p * t2 + 3.06254913849203047e+13;
  p = p * t2 + -2.48848161714439551e+12;
  p = p * t2 + 1.09420856853881668e+11;
  p = p * t2 + -1.97018351842147064e+09;
  p = p * t2 + 6.14079886346673965e+06;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<17>(double t2) {
  double p = -3.22384927226575800e+15;
  p = p * t2 + 3.28832625771107320e+16;
  p = p * t2 + -1.54077745215579840e+17;
  p = p * t2 + 4.39327352261247104e+17;
  p = p * t2 + -8.51175364134935552e+17;
  p = p * t2 + 1.18487047193797555e+18;
  p = p * t2 + -1.22181851252020762e+18;
  p = p * t2 + 9.48264656264750592e+17;
  p = p * t2 + -5.57096715009542848e+17;
  p = p * t2 + 2.47096911264449984e+17;
  p = p * t2 + -8.18569377139242080e+16;
  p = p * t2 + 1.98506288282818280e+16;
  p = p * t2 + -3.41213021078097500e+15;
  p = p * t2 + 3.95380869751689750e+14;
  p = p * t2 + -2.85057428825539766e+13;
  p = p * t2 + 1.11357850643022412e+12;
  p = p * t2 + -1.78111874992989197e+10;
  p = p * t2 + 4.92327323399985954e+07;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<18>(double t2) {
  double p = 8.22949046065136320e+16;
  p = p * t2 + -8.88784969750347136e+17;
  p = p * t2 + 4.43113592130397184e+18;
  p = p * t2 + -1.35199263274736599e+19;
  p = p * t2 + 2.82148050994806170e+19;
  p = p * t2 + -4.26348811011492495e+19;
  p = p * t2 + 4.81657958980922491e+19;
  p = p * t2 + -4.14116990480300933e+19;
  p = p * t2 + 2.73206506838246359e+19;
  p = p * t2 + -1.38407602776501473e+19;
  p = p * t2 + 5.35148677046621901e+18;
  p = p * t2 + -1.55825771262950835e+18;
  p = p * t2 + 3.34253885126721472e+17;
  p = p * t2 + -5.10615411135034400e+16;
  p = p * t2 + 5.27602177969267700e+15;
  p = p * t2 + -3.39914790007213000e+14;
  p = p * t2 + 1.18773693391222266e+13;
  p = p * t2 + -1.69882708078076691e+11;
  p = p * t2 + 4.19272864964833021e+08;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<19>(double t2) {
  double p = -2.22403685309511552e+18;
  p = p * t2 + 2.53540201252843151e+19;
  p = p * t2 + -1.34011757572033020e+20;
  p = p * t2 + 4.35662534802785370e+20;
  p = p * t2 + -9.74325549814079947e+20;
  p = p * t2 + 1.58838420848252289e+21;
  p = p * t2 + -1.95125991720469424e+21;
  p = p * t2 + 1.84142198751778806e+21;
  p = p * t2 + -1.34857441161487712e+21;
  p = p * t2 + 7.68937309664625164e+20;
  p = p * t2 + -3.40424125347075719e+20;
  p = p * t2 + 1.16015159784956641e+20;
  p = p * t2 + -2.99739763782180987e+19;
  p = p * t2 + 5.73410840271480627e+18;
  p = p * t2 + -7.84211321235141760e+17;
  p = p * t2 + 7.27406697503658080e+16;
  p = p * t2 + -4.21415015218640550e+15;
  p = p * t2 + 1.32506172156018219e+14;
  p = p * t2 + -1.70491903188425488e+12;
  p = p * t2 + 3.77979538066754103e+09;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_log_poly<20>(double t2) {
  double p = 6.34377990757746115e+19;
  p = p * t2 + -7.61253588909295272e+20;
  p = p * t2 + 4.25208156198122448e+21;
  p = p * t2 + -1.46728945676884776e+22;
  p = p * t2 + 3.50094237178538481e+22;
  p = p * t2 + -6.12487706580890818e+22;
  p = p * t2 + 8.12976656224789169e+22;
  p = p * t2 + -8.35629843740341830e+22;
  p = p * t2 + 6.72918927845784415e+22;
  p = p * t2 + -4.26752505778377652e+22;
  p = p * t2 + 2.13097029672490762e+22;
  p = p * t2 + -8.33500049920576874e+21;
  p = p * t2 + 2.52693423301699358e+21;
  p = p * t2 + -5.83938608502024897e+20;
  p = p * t2 + 1.00335163756861833e+20;
  p = p * t2 + -1.23638667351324406e+19;
  p = p * t2 + 1.03561889105044877e+18;
  p = p * t2 + -5.42533256180758560e+16;
  p = p * t2 + 1.54336875873421575e+15;
  p = p * t2 + -1.79595668170945742e+13;
  p = p * t2 + 3.59618316036690140e+10;
  return p;
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
  double p = 6.25000000000000000e-01;
  p = p * t2 + -1.25000000000000000e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<3>(double t2) {
  double p = -1.87500000000000000e+00;
  p = p * t2 + 1.50000000000000000e+00;
  p = p * t2 + -1.25000000000000000e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<4>(double t2) {
  double p = 8.63281250000000000e+00;
  p = p * t2 + -1.20859375000000000e+01;
  p = p * t2 + 4.14843750000000000e+00;
  p = p * t2 + -1.95312500000000000e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<5>(double t2) {
  double p = -5.29687500000000000e+01;
  p = p * t2 + 1.05937500000000000e+02;
  p = p * t2 + -6.63750000000000000e+01;
  p = p * t2 + 1.33125000000000000e+01;
  p = p * t2 + -4.06250000000000000e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<6>(double t2) {
  double p = 4.04418945312500000e+02;
  p = p * t2 + -1.05148925781250000e+03;
  p = p * t2 + 9.64626953125000000e+02;
  p = p * t2 + -3.64884765625000000e+02;
  p = p * t2 + 4.88759765625000000e+01;
  p = p * t2 + -1.04785156250000000e+00;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<7>(double t2) {
  double p = -3.68906250000000000e+03;
  p = p * t2 + 1.18050000000000000e+04;
  p = p * t2 + -1.43029687500000000e+04;
  p = p * t2 + 8.08350000000000000e+03;
  p = p * t2 + -2.09625000000000000e+03;
  p = p * t2 + 2.02500000000000000e+02;
  p = p * t2 + -3.21875000000000000e+00;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<8>(double t2) {
  double p = 3.91244972229003906e+04;
  p = p * t2 + -1.48673089447021484e+05;
  p = p * t2 + 2.24141045196533203e+05;
  p = p * t2 + -1.69569892547607422e+05;
  p = p * t2 + 6.68227465515136719e+04;
  p = p * t2 + -1.27691238098144531e+04;
  p = p * t2 + 9.35783294677734375e+02;
  p = p * t2 + -1.14664611816406250e+01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<9>(double t2) {
  double p = -4.73015185546875000e+05;
  p = p * t2 + 2.08126681640625000e+06;
  p = p * t2 + -3.75603802734375000e+06;
  p = p * t2 + 3.56979251953125000e+06;
  p = p * t2 + -1.90515124218750000e+06;
  p = p * t2 + 5.61266261718750000e+05;
  p = p * t2 + -8.28513164062500000e+04;
  p = p * t2 + 4.77615234375000000e+03;
  p = p * t2 + -4.64785156250000000e+01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<10>(double t2) {
  double p = 6.42196892499923706e+06;
  p = p * t2 + -3.21098446249961853e+07;
  p = p * t2 + 6.75095609337615967e+07;
  p = p * t2 + -7.73557919228973389e+07;
  p = p * t2 + 5.23045150169448853e+07;
  p = p * t2 + -2.10821229965286255e+07;
  p = p * t2 + 4.85813348655700684e+06;
  p = p * t2 + -5.72907215560913086e+05;
  p = p * t2 + 2.67001738700866699e+04;
  p = p * t2 + -2.11276149749755859e+02;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<11>(double t2) {
  double p = -9.67517953491210938e+07;
  p = p * t2 + 5.41810053955078125e+08;
  p = p * t2 + -1.30072130553955078e+09;
  p = p * t2 + 1.74597326414062500e+09;
  p = p * t2 + -1.43246725149902344e+09;
  p = p * t2 + 7.37048295738281250e+08;
  p = p * t2 + -2.34475304352539062e+08;
  p = p * t2 + 4.36394014687500000e+07;
  p = p * t2 + -4.21661833154296875e+06;
  p = p * t2 + 1.62323947265625000e+05;
  p = p * t2 + -1.06467822265625000e+03;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<12>(double t2) {
  double p = 1.60192019413116574e+09;
  p = p * t2 + -9.93190520361322784e+09;
  p = p * t2 + 2.68089066049321251e+10;
  p = p * t2 + -4.12720064004781265e+10;
  p = p * t2 + 3.98669006169214783e+10;
  p = p * t2 + -2.50348183096861305e+10;
  p = p * t2 + 1.02358706576897449e+10;
  p = p * t2 + -2.65116840427732134e+09;
  p = p * t2 + 4.08203902830702066e+08;
  p = p * t2 + -3.29643712600772381e+07;
  p = p * t2 + 1.06660535538268089e+06;
  p = p * t2 + -5.89204571461677551e+03;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<13>(double t2) {
  double p = -2.89147223120727539e+10;
  p = p * t2 + 1.96620111722094727e+11;
  p = p * t2 + -5.89485651804843750e+11;
  p = p * t2 + 1.02404467733390625e+12;
  p = p * t2 + -1.13908560817052490e+12;
  p = p * t2 + 8.46048736071474609e+11;
  p = p * t2 + -4.24413119308289062e+11;
  p = p * t2 + 1.42148163951878906e+11;
  p = p * t2 + -3.06788931045483398e+10;
  p = p * t2 + 3.98189012515722656e+09;
  p = p * t2 + -2.73083272593750000e+08;
  p = p * t2 + 7.53429673828125000e+06;
  p = p * t2 + -3.55288774414062500e+04;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<14>(double t2) {
  double p = 5.65122816778717285e+11;
  p = p * t2 + -4.18190884416250781e+12;
  p = p * t2 + 1.37881957693036367e+13;
  p = p * t2 + -2.66838155053907266e+13;
  p = p * t2 + 3.36046237373924570e+13;
  p = p * t2 + -2.88496192820326094e+13;
  p = p * t2 + 1.71899864023204766e+13;
  p = p * t2 + -7.09801422103224414e+12;
  p = p * t2 + 1.99202158539298926e+12;
  p = p * t2 + -3.64776511798432983e+11;
  p = p * t2 + 4.05187356390254288e+10;
  p = p * t2 + -2.39139490359938860e+09;
  p = p * t2 + 5.69443779533345997e+07;
  p = p * t2 + -2.31884635956317186e+05;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<15>(double t2) {
  double p = -1.18901654869548789e+13;
  p = p * t2 + 9.51213238956390312e+13;
  p = p * t2 + -3.42081350446846688e+14;
  p = p * t2 + 7.29879828194322875e+14;
  p = p * t2 + -1.02684629148707700e+15;
  p = p * t2 + 1.00115782745956612e+15;
  p = p * t2 + -6.91897474777842750e+14;
  p = p * t2 + 3.40673124263494625e+14;
  p = p * t2 + -1.18393682991311594e+14;
  p = p * t2 + 2.83354223015515469e+13;
  p = p * t2 + -4.46690451066026953e+12;
  p = p * t2 + 4.29970132468081055e+11;
  p = p * t2 + -2.20835018048389893e+10;
  p = p * t2 + 4.58584204693359375e+08;
  p = p * t2 + -1.62874945324707031e+06;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<16>(double t2) {
  double p = 2.67960201731266312e+14;
  p = p * t2 + -2.30445773488889000e+15;
  p = p * t2 + 8.97710135806682600e+15;
  p = p * t2 + -2.09368960746784320e+16;
  p = p * t2 + 3.25516667635953040e+16;
  p = p * t2 + -3.55469962565446840e+16;
  p = p * t2 + 2.79801285835622000e+16;
  p = p * t2 + -1.60304275859729200e+16;
  p = p * t2 + 6.66711285693960700e+15;
  p = p * t2 + -1.98402344629284100e+15;
  p = p * t2 + 4.10694886406251312e+14;
  p = p * t2 + -5.64077447070661250e+13;
  p = p * t2 + 4.75484180091419727e+12;
  p = p * t2 + -2.14557256785567200e+11;
  p = p * t2 + 3.92049031371368361e+09;
  p = p * t2 + -1.22510676328661498e+07;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<17>(double t2) {
  double p = -6.43995159313277400e+15;
  p = p * t2 + 5.92475546568215200e+16;
  p = p * t2 + -2.48537857953229664e+17;
  p = p * t2 + 6.29062603857989248e+17;
  p = p * t2 + -1.07124830273785382e+18;
  p = p * t2 + 1.29565779989177523e+18;
  p = p * t2 + -1.14506117930769702e+18;
  p = p * t2 + 7.49207020066003072e+17;
  p = p * t2 + -3.63659200669927360e+17;
  p = p * t2 + 1.29945539436421488e+17;
  p = p * t2 + -3.35724715944744920e+16;
  p = p * t2 + 6.08086419705215900e+15;
  p = p * t2 + -7.35011793238087250e+14;
  p = p * t2 + 5.47465955771767031e+13;
  p = p * t2 + -2.18841713707763330e+12;
  p = p * t2 + 3.54633033315864716e+10;
  p = p * t2 + -9.82527818154678345e+07;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<18>(double t2) {
  double p = 1.64416312885553664e+17;
  p = p * t2 + -1.61127986627842586e+18;
  p = p * t2 + 7.24165402513225318e+18;
  p = p * t2 + -1.97697308517561221e+19;
  p = p * t2 + 3.66005406578022277e+19;
  p = p * t2 + -4.85796893494570025e+19;
  p = p * t2 + 4.76509219882880942e+19;
  p = p * t2 + -3.50857922817957724e+19;
  p = p * t2 + 1.94983850253339976e+19;
  p = p * t2 + -8.15419807172685005e+18;
  p = p * t2 + 2.53756506913165056e+18;
  p = p * t2 + -5.75668236020172992e+17;
  p = p * t2 + 9.21275156910863360e+16;
  p = p * t2 + -9.88452174379224400e+15;
  p = p * t2 + 6.55632086298741375e+14;
  p = p * t2 + -2.33851486350347070e+13;
  p = p * t2 + 3.38412562486679443e+11;
  p = p * t2 + -8.36956449779976130e+08;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<19>(double t2) {
  double p = -4.44392484875173581e+18;
  p = p * t2 + 4.62168184270180516e+19;
  p = p * t2 + -2.21556796065198604e+20;
  p = p * t2 + 6.48956463718735675e+20;
  p = p * t2 + -1.29788103457610819e+21;
  p = p * t2 + 1.87593476845056714e+21;
  p = p * t2 + -2.02296342771987435e+21;
  p = p * t2 + 1.65646796192120386e+21;
  p = p * t2 + -1.03818472598533623e+21;
  p = p * t2 + 4.98267369995405296e+20;
  p = p * t2 + -1.81950550195851461e+20;
  p = p * t2 + 4.98642468041442673e+19;
  p = p * t2 + -1.00276165538016440e+19;
  p = p * t2 + 1.42972315117809638e+18;
  p = p * t2 + -1.37176566272009600e+17;
  p = p * t2 + 8.15795496017311200e+15;
  p = p * t2 + -2.61302125460689000e+14;
  p = p * t2 + 3.39765416156153369e+12;
  p = p * t2 + -7.54691156936699486e+09;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_poly<20>(double t2) {
  double p = 1.26770100626421580e+20;
  p = p * t2 + -1.39447110689063751e+21;
  p = p * t2 + 7.10262315131774960e+21;
  p = p * t2 + -2.22187892749420556e+22;
  p = p * t2 + 4.77419519408899170e+22;
  p = p * t2 + -7.46540577986785806e+22;
  p = p * t2 + 8.78066962742112493e+22;
  p = p * t2 + -7.91811454632648948e+22;
  p = p * t2 + 5.52915508762099612e+22;
  p = p * t2 + -2.99885550769203828e+22;
  p = p * t2 + 1.25956926378418016e+22;
  p = p * t2 + -4.06053059247348279e+21;
  p = p * t2 + 9.89141220481197277e+20;
  p = p * t2 + -1.77757360484158996e+20;
  p = p * t2 + 2.27421283158191145e+19;
  p = p * t2 + -1.96399808325987686e+18;
  p = p * t2 + 1.05353753804660144e+17;
  p = p * t2 + -3.04764195958841900e+15;
  p = p * t2 + 3.58032996695693516e+13;
  p = p * t2 + -7.18161122326832733e+10;
  return p;
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
  double p = 2.50000000000000000e+00;
  p = p * t2 + -2.50000000000000000e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<3>(double t2) {
  double p = -1.31250000000000000e+01;
  p = p * t2 + 7.50000000000000000e+00;
  p = p * t2 + -3.75000000000000000e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<4>(double t2) {
  double p = 8.63281250000000000e+01;
  p = p * t2 + -9.66875000000000000e+01;
  p = p * t2 + 2.48906250000000000e+01;
  p = p * t2 + -7.81250000000000000e-01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<5>(double t2) {
  double p = -6.88593750000000000e+02;
  p = p * t2 + 1.16531250000000000e+03;
  p = p * t2 + -5.97375000000000000e+02;
  p = p * t2 + 9.31875000000000000e+01;
  p = p * t2 + -2.03125000000000000e+00;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<6>(double t2) {
  double p = 6.47070312500000000e+03;
  p = p * t2 + -1.47208496093750000e+04;
  p = p * t2 + 1.15755234375000000e+04;
  p = p * t2 + -3.64884765625000000e+03;
  p = p * t2 + 3.91007812500000000e+02;
  p = p * t2 + -6.28710937500000000e+00;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<7>(double t2) {
  double p = -7.00921875000000000e+04;
  p = p * t2 + 2.00685000000000000e+05;
  p = p * t2 + -2.14544531250000000e+05;
  p = p * t2 + 1.05085500000000000e+05;
  p = p * t2 + -2.30587500000000000e+04;
  p = p * t2 + 1.82250000000000000e+03;
  p = p * t2 + -2.25312500000000000e+01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<8>(double t2) {
  double p = 8.60738938903808594e+05;
  p = p * t2 + -2.97346178894042969e+06;
  p = p * t2 + 4.03453881353759766e+06;
  p = p * t2 + -2.71311828076171875e+06;
  p = p * t2 + 9.35518451721191406e+05;
  p = p * t2 + -1.53229485717773438e+05;
  p = p * t2 + 9.35783294677734375e+03;
  p = p * t2 + -9.17316894531250000e+01;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<9>(double t2) {
  double p = -1.18253796386718750e+07;
  p = p * t2 + 4.78691367773437500e+07;
  p = p * t2 + -7.88767985742187500e+07;
  p = p * t2 + 6.78260578710937500e+07;
  p = p * t2 + -3.23875711171875000e+07;
  p = p * t2 + 8.41899392578125000e+06;
  p = p * t2 + -1.07706711328125000e+06;
  p = p * t2 + 5.25376757812500000e+04;
  p = p * t2 + -4.18306640625000000e+02;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<10>(double t2) {
  double p = 1.79815129899978638e+08;
  p = p * t2 + -8.34855960249900818e+08;
  p = p * t2 + 1.62022946241027832e+09;
  p = p * t2 + -1.70182742230374146e+09;
  p = p * t2 + 1.04609030033889771e+09;
  p = p * t2 + -3.79478213937515259e+08;
  p = p * t2 + 7.77301357849121094e+07;
  p = p * t2 + -8.02070101785278320e+06;
  p = p * t2 + 3.20402086441040039e+05;
  p = p * t2 + -2.11276149749755859e+03;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<11>(double t2) {
  double p = -2.99930565582275391e+09;
  p = p * t2 + 1.57124915646972656e+10;
  p = p * t2 + -3.51194752495678711e+10;
  p = p * t2 + 4.36493316035156250e+10;
  p = p * t2 + -3.29467467844775391e+10;
  p = p * t2 + 1.54780142105039062e+10;
  p = p * t2 + -4.45503078269824219e+09;
  p = p * t2 + 7.41869824968750000e+08;
  p = p * t2 + -6.32492749731445312e+07;
  p = p * t2 + 2.11021131445312500e+06;
  p = p * t2 + -1.17114604492187500e+04;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<12>(double t2) {
  double p = 5.44652866004596329e+10;
  p = p * t2 + -3.17820966515623291e+11;
  p = p * t2 + 8.04267198147963745e+11;
  p = p * t2 + -1.15561617921338745e+12;
  p = p * t2 + 1.03653941603995837e+12;
  p = p * t2 + -6.00835639432467163e+11;
  p = p * t2 + 2.25189154469174377e+11;
  p = p * t2 + -5.30233680855464249e+10;
  p = p * t2 + 7.34767025095263672e+09;
  p = p * t2 + -5.27429940161235809e+08;
  p = p * t2 + 1.49324749753575325e+07;
  p = p * t2 + -7.07045485754013062e+04;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<13>(double t2) {
  double p = -1.06984472554669189e+12;
  p = p * t2 + 6.88170391027331543e+12;
  p = p * t2 + -1.94530265095598438e+13;
  p = p * t2 + 3.17453849973510938e+13;
  p = p * t2 + -3.30334826369452227e+13;
  p = p * t2 + 2.28433158739298125e+13;
  p = p * t2 + -1.06103279827072266e+13;
  p = p * t2 + 3.26940777089321484e+12;
  p = p * t2 + -6.44256755195515137e+11;
  p = p * t2 + 7.56559123779873047e+10;
  p = p * t2 + -4.64241563409375000e+09;
  p = p * t2 + 1.13014451074218750e+08;
  p = p * t2 + -4.61875406738281250e+05;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<14>(double t2) {
  double p = 2.26049126711486914e+13;
  p = p * t2 + -1.58912536078175312e+14;
  p = p * t2 + 4.96375047694930875e+14;
  p = p * t2 + -9.07249727183284750e+14;
  p = p * t2 + 1.07534795959655862e+15;
  p = p * t2 + -8.65488578460978250e+14;
  p = p * t2 + 4.81319619264973375e+14;
  p = p * t2 + -1.84548369746838344e+14;
  p = p * t2 + 4.78085180494317422e+13;
  p = p * t2 + -8.02508325956552539e+12;
  p = p * t2 + 8.10374712780508667e+11;
  p = p * t2 + -4.30451082647889938e+10;
  p = p * t2 + 9.11110047253353596e+08;
  p = p * t2 + -3.24638490338844061e+06;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<15>(double t2) {
  double p = -5.11277115939059812e+14;
  p = p * t2 + 3.89997427972120050e+15;
  p = p * t2 + -1.33411726674270220e+16;
  p = p * t2 + 2.70055536431899480e+16;
  p = p * t2 + -3.59396202020476960e+16;
  p = p * t2 + 3.30382083061656800e+16;
  p = p * t2 + -2.14488217181131240e+16;
  p = p * t2 + 9.87952060364134400e+15;
  p = p * t2 + -3.19662944076541300e+15;
  p = p * t2 + 7.08385557538788625e+14;
  p = p * t2 + -1.02738803745186188e+14;
  p = p * t2 + 9.02937278182970312e+12;
  p = p * t2 + -4.19586534291940796e+11;
  p = p * t2 + 7.79593147978710938e+09;
  p = p * t2 + -2.44312417987060547e+07;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<16>(double t2) {
  double p = 1.23261692796382500e+16;
  p = p * t2 + -1.01396140335111168e+17;
  p = p * t2 + 3.77038257038806720e+17;
  p = p * t2 + -8.37475842987137152e+17;
  p = p * t2 + 1.23696333701662157e+18;
  p = p * t2 + -1.27969186523560858e+18;
  p = p * t2 + 9.51324371841114752e+17;
  p = p * t2 + -5.12973682751133440e+17;
  p = p * t2 + 2.00013385708188192e+17;
  p = p * t2 + -5.55526564961995440e+16;
  p = p * t2 + 1.06780670465625340e+16;
  p = p * t2 + -1.35378587296958700e+15;
  p = p * t2 + 1.04606519620112344e+14;
  p = p * t2 + -4.29114513571134424e+12;
  p = p * t2 + 7.05688256468462982e+10;
  p = p * t2 + -1.96017082125858396e+08;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<17>(double t2) {
  double p = -3.15557628063505920e+17;
  p = p * t2 + 2.78463506887061146e+18;
  p = p * t2 + -1.11842036078953349e+19;
  p = p * t2 + 2.70496919658935337e+19;
  p = p * t2 + -4.39211804122520044e+19;
  p = p * t2 + 5.05306541957792317e+19;
  p = p * t2 + -4.23672636343847895e+19;
  p = p * t2 + 2.62222457023101051e+19;
  p = p * t2 + -1.20007536221076029e+19;
  p = p * t2 + 4.02831172252906598e+18;
  p = p * t2 + -9.73601676239760256e+17;
  p = p * t2 + 1.64183333320408320e+17;
  p = p * t2 + -1.83752948309521840e+16;
  p = p * t2 + 1.25917169827506425e+15;
  p = p * t2 + -4.59567598786302969e+13;
  p = p * t2 + 6.73802763300142944e+11;
  p = p * t2 + -1.67029729086295319e+09;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<18>(double t2) {
  double p = 8.54964827004879053e+18;
  p = p * t2 + -8.05639933139213025e+19;
  p = p * t2 + 3.47599393206348153e+20;
  p = p * t2 + -9.09407619180781502e+20;
  p = p * t2 + 1.61042378894329800e+21;
  p = p * t2 + -2.04034695267719394e+21;
  p = p * t2 + 1.90603687953152370e+21;
  p = p * t2 + -1.33326010670823952e+21;
  p = p * t2 + 7.01941860912023994e+20;
  p = p * t2 + -2.77242734438712902e+20;
  p = p * t2 + 8.12020822122128179e+19;
  p = p * t2 + -1.72700470806051881e+19;
  p = p * t2 + 2.57957043935041741e+18;
  p = p * t2 + -2.56997565338598336e+17;
  p = p * t2 + 1.57351700711697940e+16;
  p = p * t2 + -5.14473269970763500e+14;
  p = p * t2 + 6.76825124973358887e+12;
  p = p * t2 + -1.50652160960395718e+10;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<19>(double t2) {
  double p = -2.44415866681345475e+20;
  p = p * t2 + 2.44949137663195664e+21;
  p = p * t2 + -1.12993965993251287e+22;
  p = p * t2 + 3.17988667222180516e+22;
  p = p * t2 + -6.10004086250770918e+22;
  p = p * t2 + 8.44170645802755157e+22;
  p = p * t2 + -8.69874273919545985e+22;
  p = p * t2 + 6.79151864387693623e+22;
  p = p * t2 + -4.04892043134281124e+22;
  p = p * t2 + 1.84358926898299950e+22;
  p = p * t2 + -6.36826925685480096e+21;
  p = p * t2 + 1.64552014453676075e+21;
  p = p * t2 + -3.10856113167850930e+20;
  p = p * t2 + 4.14619713841647944e+19;
  p = p * t2 + -3.70376728934425958e+18;
  p = p * t2 + 2.03948874004327808e+17;
  p = p * t2 + -6.00994888559584700e+15;
  p = p * t2 + 7.13507373927922031e+13;
  p = p * t2 + -1.43391319817972900e+11;
  return p;
}
template <>
PDML_HOST_DEVICE PDML_FORCE_INLINE double debye_ratio_deriv_poly<20>(double t2) {
  double p = 7.35266583633245136e+21;
  p = p * t2 + -7.80903819858756963e+22;
  p = p * t2 + 3.83541650171158478e+23;
  p = p * t2 + -1.15537704229698694e+24;
  p = p * t2 + 2.38709759704449590e+24;
  p = p * t2 + -3.58339477433657160e+24;
  p = p * t2 + 4.03910802861371723e+24;
  p = p * t2 + -3.48397040038365544e+24;
  p = p * t2 + 2.32224513680081834e+24;
  p = p * t2 + -1.19954220307681538e+24;
  p = p * t2 + 4.78636320237988444e+23;
  p = p * t2 + -1.46179101329045372e+23;
  p = p * t2 + 3.36308014963607040e+22;
  p = p * t2 + -5.68823553549308789e+21;
  p = p * t2 + 6.82263849474573337e+20;
  p = p * t2 + -5.49919463312765583e+19;
  p = p * t2 + 2.73919759892116378e+18;
  p = p * t2 + -7.31434070301220640e+16;
  p = p * t2 + 7.87672592730525750e+14;
  p = p * t2 + -1.43632224465366553e+12;
  return p;
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
