"""The pulse stages of the reconstruction, one module each: ``pedestals``, ``peaks``, ``template``
(and its phase table), ``least_squares`` (the template fit), ``forced`` (amplitudes without a
pulse), and ``channel_kernel``, which runs them over a batch; ``flags`` names what a channel's
flags say."""
