/* Live behaviour of superres.
 *
 * Latency: the time a frame takes through the network, measured (peak, x LATENCY_MARGIN),
 * is what superres adds to the latency query; when a frame takes longer than that allows,
 * the latency grows and the element posts a latency message.
 * Degrading: a frame that would reach the sink after its render time takes the cheap path
 * (bicubic, a few ms) instead of being dropped downstream: in a live pipeline, when the
 * clock says the network would finish it after its running time plus the latency; in any
 * pipeline, when the sink's QoS events say it has passed the frame's running time. */
#include "gstsuperres-live.h"

#define LATENCY_MARGIN 2.0  /* reported latency over the peak frame time */
#define MEAN_WEIGHT 0.2     /* of the newest frame in the running mean */

void
gst_superres_live_reset (GstSuperresLive *live)
{
  gboolean was_live = live->live;
  *live = (GstSuperresLive) { 0 };
  live->live = was_live;
  live->qos_earliest = GST_CLOCK_TIME_NONE;
}

gboolean
gst_superres_live_should_degrade (const GstSuperresLive *live, GstClockTime rt,
    GstClockTime now_rt, double budget, gboolean has_exits)
{
  if (!GST_CLOCK_TIME_IS_VALID (rt))
    return FALSE;
  if (GST_CLOCK_TIME_IS_VALID (live->qos_earliest) && rt <= live->qos_earliest)
    return TRUE;
  /* live: a frame renders at its running time plus the latency (superres' stands in for
   * the pipeline's); elsewhere frames wait for the sink, whose QoS events say it is late */
  if (live->live && GST_CLOCK_TIME_IS_VALID (now_rt) && live->full_mean > 0 &&
      now_rt + (GstClockTime) (live->full_mean * GST_SECOND) > rt + live->latency)
    return TRUE;
  /* exit models meet target-fps by raising their threshold instead */
  return budget > 0 && !has_exits && live->debt > 0;
}

gboolean
gst_superres_live_account (GstSuperresLive *live, double seconds, gboolean degraded,
    double budget, gboolean has_exits)
{
  if (budget > 0 && !has_exits)
    live->debt = MAX (live->debt + seconds - budget, -budget);
  if (degraded)
    return FALSE;
  live->full_mean = live->full_mean > 0 ? (1 - MEAN_WEIGHT) * live->full_mean +
      MEAN_WEIGHT * seconds : seconds;
  live->full_peak = MAX (live->full_peak, seconds);
  GstClockTime needed = (GstClockTime) (live->full_peak * GST_SECOND);
  if (needed <= live->latency)
    return FALSE;
  /* room above the peak, so a slightly slower frame does not re-post at once */
  live->latency = (GstClockTime) (live->full_peak * LATENCY_MARGIN * GST_SECOND);
  return TRUE;
}

void
gst_superres_live_qos (GstSuperresLive *live, GstClockTime timestamp, GstClockTimeDiff diff)
{
  if (!GST_CLOCK_TIME_IS_VALID (timestamp))
    live->qos_earliest = GST_CLOCK_TIME_NONE;
  else
    live->qos_earliest = diff < 0 && timestamp < (GstClockTime) -diff ? 0 : timestamp + diff;
}
